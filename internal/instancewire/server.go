package instancewire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// prefaceWait bounds how long a new connection may take to send the
// Preface.
const prefaceWait = 10 * time.Second

// Server serves a flamev1.InstanceServer over the framed wire, with the
// stopping behaviour of a grpc.Server: GracefulStop lets the call in
// progress finish and its response go out, Stop cancels it.
type Server struct {
	h flamev1.InstanceServer

	ctx    context.Context // calls' contexts derive from it; Stop cancels it
	cancel context.CancelFunc

	mu       sync.Mutex
	lis      net.Listener
	conns    map[*serverConn]struct{}
	stopping bool // no new connections or calls
	wg       sync.WaitGroup
}

// serverConn is one connection; inflight and closed are guarded by
// Server.mu.
type serverConn struct {
	c net.Conn
	// inflight counts requests from their first byte to their answer: a
	// graceful stop closes the connection only when it is zero.
	inflight int
	closed   bool
}

// NewServer returns a server of h.
func NewServer(h flamev1.InstanceServer) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{h: h, ctx: ctx, cancel: cancel, conns: make(map[*serverConn]struct{})}
}

// Serve accepts connections on lis until the server stops (it then returns
// nil) or lis fails. It closes lis.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		_ = lis.Close()
		return nil
	}
	s.lis = lis
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := lis.Accept()
		if err != nil {
			if s.stopped() {
				_ = lis.Close()
				return nil
			}
			if outOfResources(err) {
				// Out of descriptors or memory for a moment: wait and
				// retry, as net/http and grpc-go do.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			_ = lis.Close()
			return err
		}
		delay = 0
		sc := &serverConn{c: c}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(sc)
	}
}

// outOfResources reports an Accept error that passes: the process or the
// system is out of descriptors or memory, or a client gave up.
func outOfResources(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

// GracefulStop stops accepting connections and calls, closes idle
// connections, and returns when the calls in progress have answered (or
// Stop was called).
func (s *Server) GracefulStop() {
	s.shut(false)
	s.wg.Wait()
}

// Stop closes the listener and every connection and cancels the calls in
// progress. It does not wait for their handlers, which may not return.
func (s *Server) Stop() {
	s.shut(true)
	s.cancel()
	s.wg.Wait()
}

// shut stops accepting and closes every connection, or (gracefully) lets
// the idle ones wind down.
func (s *Server) shut(all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	if s.lis != nil {
		_ = s.lis.Close()
	}
	for sc := range s.conns {
		switch {
		case all:
			s.closeLocked(sc)
		case sc.inflight == 0:
			windDown(sc)
		}
	}
}

// lingerRead is how long a connection that is idle while the server stops
// is still read: a request already on its way is answered as refused
// (codeRefused) rather than cut off. Closing a socket with unread input
// resets it, which would lose the answers before it as well.
const lingerRead = 10 * time.Millisecond

// windDown ends an idle connection of a stopping server: its reader
// returns (and closes it) once nothing more arrives within lingerRead.
func windDown(sc *serverConn) {
	_ = sc.c.SetReadDeadline(time.Now().Add(lingerRead))
}

func (s *Server) closeLocked(sc *serverConn) {
	if !sc.closed {
		sc.closed = true
		_ = sc.c.Close()
	}
	delete(s.conns, sc)
}

// serveConn reads a connection's requests. Each call runs in a goroutine
// of its own so that the reader notices the client going away (and cancels
// the call) while the call runs.
func (s *Server) serveConn(sc *serverConn) {
	// idle holds a token while no call runs. A call's goroutine returns it
	// after its answer went out; a request that arrives first (the client
	// saw the answer before the goroutine finished) waits for it.
	idle := make(chan struct{}, 1)
	idle <- struct{}{}
	ctx, cancel := context.WithCancel(s.ctx)
	defer func() {
		cancel()
		// A call whose client went away has been cancelled; a graceful stop
		// waits for its handler to return, as grpc.Server does. Stop does
		// not: a handler may never return.
		select {
		case <-idle:
		case <-s.ctx.Done():
		}
		s.mu.Lock()
		s.closeLocked(sc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	r := bufio.NewReaderSize(sc.c, 32<<10)
	// The handshake clears its read deadline: a stop that began during it
	// (and set one to wind the connection down) is seen here instead.
	if !s.handshake(sc.c, r) || s.stopped() {
		return
	}
	var hdr [headerLen]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		if !s.receiving(sc) {
			return
		}
		kind, size := parseHeader(hdr[:])
		payload, err := readPayload(r, size, buf)
		if err != nil {
			return
		}
		if cap(payload) <= keepBuffer {
			buf = payload
		}
		req := newRequest(kind)
		var decodeErr error
		if req != nil {
			// proto.Unmarshal copies bytes fields: buf is free again after.
			decodeErr = proto.Unmarshal(payload, req)
		}
		select {
		case <-idle:
		case <-ctx.Done(): // Stop, while a call runs that may never return
			return
		}
		if s.stopped() {
			// Shutting down: the request is answered as not run, so that
			// the client may give it to another instance.
			idle <- struct{}{}
			var refused [headerLen]byte
			putHeader(refused[:], codeRefused, 0)
			_, _ = sc.c.Write(refused[:])
			s.end(sc)
			return
		}
		go func() {
			s.call(ctx, sc, kind, req, decodeErr)
			idle <- struct{}{}
		}()
	}
}

// handshake reads the client's Preface and echoes it.
func (s *Server) handshake(c net.Conn, r *bufio.Reader) bool {
	_ = c.SetReadDeadline(time.Now().Add(prefaceWait))
	got := make([]byte, len(Preface))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != Preface {
		return false
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	_, err := io.WriteString(c, Preface)
	return err == nil
}

// receiving counts a request whose first bytes arrived; false means sc
// was closed meanwhile.
func (s *Server) receiving(sc *serverConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc.closed {
		return false
	}
	sc.inflight++
	return true
}

// stopped reports whether the server is stopping: no call starts then.
func (s *Server) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// end uncounts a request after its answer went out, and winds sc down when
// the server is stopping and nothing else is in flight on it.
func (s *Server) end(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.inflight--
	if s.stopping && sc.inflight == 0 && !sc.closed {
		windDown(sc)
	}
}

func newRequest(kind byte) proto.Message {
	switch kind {
	case KindEnter:
		return new(flamev1.SessionContext)
	case KindInvoke:
		return new(flamev1.TaskContext)
	case KindLeave:
		return new(flamev1.EmptyRequest)
	}
	return nil
}

// call runs one request and writes its response frame.
func (s *Server) call(ctx context.Context, sc *serverConn, kind byte, req proto.Message, decodeErr error) {
	var resp proto.Message
	var err error
	switch {
	case req == nil:
		err = status.Errorf(codes.Unimplemented, "unknown call kind %d on the framed instance wire", kind)
	case decodeErr != nil:
		err = status.Errorf(codes.Internal, "decode the request: %v", decodeErr)
	default:
		switch kind {
		case KindEnter:
			resp, err = s.h.OnSessionEnter(ctx, req.(*flamev1.SessionContext))
		case KindInvoke:
			resp, err = s.h.OnTaskInvoke(ctx, req.(*flamev1.TaskContext))
		case KindLeave:
			resp, err = s.h.OnSessionLeave(ctx, req.(*flamev1.EmptyRequest))
		}
	}
	_, _ = sc.c.Write(responseFrame(resp, err))
	s.end(sc)
}

// responseFrame encodes a handler's answer.
func responseFrame(resp proto.Message, err error) []byte {
	if err == nil {
		frame, merr := proto.MarshalOptions{}.MarshalAppend(make([]byte, headerLen, headerLen+64), resp)
		switch {
		case merr != nil:
			err = status.Errorf(codes.Internal, "encode the response: %v", merr)
		case len(frame)-headerLen > MaxMessageSize:
			err = status.Errorf(codes.ResourceExhausted, "response of %d bytes is larger than the %d an instance call carries",
				len(frame)-headerLen, MaxMessageSize)
		default:
			putHeader(frame, byte(codes.OK), len(frame)-headerLen)
			return frame
		}
	}
	st := status.Convert(err)  // Unknown for an error without a status
	if st.Code() == codes.OK { // an error that claims status OK
		st = status.New(codes.Unknown, err.Error())
	}
	msg := st.Message()
	frame := make([]byte, headerLen+len(msg))
	putHeader(frame, byte(st.Code()), len(msg))
	copy(frame[headerLen:], msg)
	return frame
}
