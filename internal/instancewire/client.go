package instancewire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Client calls one instance over the framed wire. It implements
// flamev1.InstanceClient (call options are ignored), and its errors carry
// gRPC status codes as a gRPC client's would: Unavailable when the
// connection broke, Canceled or DeadlineExceeded when the call's context
// ended, the server's code otherwise. Calls are serialized. After a broken
// connection or an ended context every call fails with the same error.
type Client struct {
	conn net.Conn
	r    *bufio.Reader

	mu   sync.Mutex
	hdr  [headerLen]byte
	wbuf []byte // request frames, reused
	rbuf []byte // response payloads, reused
	err  error  // sticky: the connection is unusable
}

var _ flamev1.InstanceClient = (*Client)(nil)

// Dial connects to the framed socket at path and exchanges the Preface,
// within ctx. A server that does not echo the Preface (another version, or
// not this wire at all) gets an error, and the caller falls back to gRPC.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := bufio.NewReaderSize(conn, 32<<10)
	if _, err := io.WriteString(conn, Preface); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("send the preface: %w", err)
	}
	got := make([]byte, len(Preface))
	if _, err := io.ReadFull(r, got); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("read the preface: %w", err)
	}
	if string(got) != Preface {
		_ = conn.Close()
		return nil, fmt.Errorf("the server answered %q, not the preface %q", got, Preface)
	}
	if !stop() {
		_ = conn.Close()
		return nil, ctx.Err()
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &Client{conn: conn, r: r, wbuf: make([]byte, headerLen, 4<<10)}, nil
}

// Close closes the connection; a call in progress fails with Unavailable.
func (c *Client) Close() error { return c.conn.Close() }

// OnSessionEnter implements flamev1.InstanceClient.
func (c *Client) OnSessionEnter(ctx context.Context, in *flamev1.SessionContext, _ ...grpc.CallOption) (*flamev1.Result, error) {
	out := new(flamev1.Result)
	if err := c.call(ctx, KindEnter, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// OnTaskInvoke implements flamev1.InstanceClient.
func (c *Client) OnTaskInvoke(ctx context.Context, in *flamev1.TaskContext, _ ...grpc.CallOption) (*flamev1.TaskResult, error) {
	out := new(flamev1.TaskResult)
	if err := c.call(ctx, KindInvoke, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// OnSessionLeave implements flamev1.InstanceClient.
func (c *Client) OnSessionLeave(ctx context.Context, in *flamev1.EmptyRequest, _ ...grpc.CallOption) (*flamev1.Result, error) {
	out := new(flamev1.Result)
	if err := c.call(ctx, KindLeave, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// call sends one request frame and reads its response into resp.
func (c *Client) call(ctx context.Context, kind byte, req, resp proto.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		st := status.Convert(c.err)
		return &callError{st: status.New(st.Code(), st.Message()+" (in an earlier call; this one was not sent)"), notSent: true}
	}
	if err := ctx.Err(); err != nil {
		return &callError{st: status.FromContextError(err), notSent: true}
	}
	buf, err := proto.MarshalOptions{}.MarshalAppend(c.wbuf[:headerLen], req)
	if err != nil {
		return status.Errorf(codes.Internal, "encode the request: %v", err)
	}
	if n := len(buf) - headerLen; n > MaxMessageSize {
		return status.Errorf(codes.ResourceExhausted, "request of %d bytes is larger than the %d an instance call carries", n, MaxMessageSize)
	}
	putHeader(buf, kind, len(buf)-headerLen)
	if cap(buf) <= keepBuffer {
		c.wbuf = buf[:headerLen]
	}

	// The context's end interrupts the write or read in progress.
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	}
	n, err := c.conn.Write(buf)
	if err != nil {
		return c.broken(ctx, stop, "sending the request", n == 0, err)
	}
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		return c.broken(ctx, stop, "waiting for the response", false, err)
	}
	code, size := parseHeader(c.hdr[:])
	payload, err := readPayload(c.r, size, c.rbuf)
	if err != nil {
		return c.broken(ctx, stop, "reading the response", false, err)
	}
	if cap(payload) <= keepBuffer {
		c.rbuf = payload
	}
	if stop != nil && !stop() {
		// The context ended as the answer came: the deadline set to stop
		// the connection may land at any moment, so it is done with.
		c.fail(status.FromContextError(ctx.Err()).Err())
	}
	if code == codeRefused {
		return c.fail(&callError{st: status.New(codes.Unavailable, "the instance is shutting down and did not run the call"), notSent: true})
	}
	if code != byte(codes.OK) {
		msg := string(payload)
		if !utf8.ValidString(msg) {
			msg = fmt.Sprintf("%q", msg)
		}
		return status.Error(codes.Code(code), msg)
	}
	// proto.Unmarshal copies bytes fields, so payload can be reused.
	if err := proto.Unmarshal(payload, resp); err != nil {
		return status.Errorf(codes.Internal, "decode the response: %v", err)
	}
	return nil
}

// broken turns a failed read or write into the call's error and makes the
// client unusable. notSent says the instance received none of the request.
func (c *Client) broken(ctx context.Context, stop func() bool, while string, notSent bool, err error) error {
	if stop != nil {
		stop()
	}
	if cerr := ctx.Err(); cerr != nil {
		return c.fail(&callError{st: status.FromContextError(cerr), notSent: notSent})
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("the instance closed the connection")
	}
	return c.fail(&callError{
		st:      status.New(codes.Unavailable, fmt.Sprintf("framed instance connection lost %s: %v", while, err)),
		notSent: notSent,
	})
}

func (c *Client) fail(err error) error {
	c.err = err
	_ = c.conn.Close()
	return err
}

// callError is a status error that also tells whether the request was
// sent at all.
type callError struct {
	st      *status.Status
	notSent bool
}

func (e *callError) Error() string              { return e.st.Err().Error() }
func (e *callError) GRPCStatus() *status.Status { return e.st }

// NotSent reports whether err is a Client's error for a call whose request
// the instance cannot have received (the connection was gone before any of
// it was written), so that the caller may give the work to another
// instance.
func NotSent(err error) bool {
	var ce *callError
	return errors.As(err, &ce) && ce.notSent
}
