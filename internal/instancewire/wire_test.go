package instancewire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// handler is a flamev1.InstanceServer driven by the task input:
// "block" waits for its context (reporting it on cancelled), "hold" waits
// for release (both, and "second", report their start on started), "fail"
// returns a status error, anything else is echoed.
type handler struct {
	flamev1.UnimplementedInstanceServer
	started   chan string
	cancelled chan error
	release   chan struct{}
}

func newHandler() *handler {
	return &handler{started: make(chan string, 8), cancelled: make(chan error, 8), release: make(chan struct{})}
}

func (h *handler) OnSessionEnter(_ context.Context, sc *flamev1.SessionContext) (*flamev1.Result, error) {
	if sc.GetSessionId() == "" {
		return &flamev1.Result{ReturnCode: -1, Message: proto.String("no session id")}, nil
	}
	return &flamev1.Result{}, nil
}

func (h *handler) OnTaskInvoke(ctx context.Context, tc *flamev1.TaskContext) (*flamev1.TaskResult, error) {
	in := string(tc.GetInput())
	if in == "block" || in == "hold" || in == "second" {
		h.started <- in
	}
	switch in {
	case "block":
		<-ctx.Done()
		h.cancelled <- ctx.Err()
		return nil, status.FromContextError(ctx.Err()).Err()
	case "hold":
		<-h.release
	case "fail":
		return nil, status.Error(codes.FailedPrecondition, "not ready: café")
	}
	return &flamev1.TaskResult{Output: tc.GetInput()}, nil
}

func (h *handler) OnSessionLeave(context.Context, *flamev1.EmptyRequest) (*flamev1.Result, error) {
	return &flamev1.Result{ReturnCode: 7}, nil
}

// socketPath is a short socket path in a fresh directory (t.TempDir's can
// exceed the 107 bytes a socket path allows).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "iw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "f.sock")
}

// start serves h on a fresh socket and dials it.
func start(t *testing.T, h flamev1.InstanceServer) (*Server, *Client) {
	t.Helper()
	path := socketPath(t)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func TestCalls(t *testing.T) {
	_, c := start(t, newHandler())
	ctx := context.Background()

	r, err := c.OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s1", CommonData: []byte("cd")})
	if err != nil || r.GetReturnCode() != 0 {
		t.Fatalf("OnSessionEnter = %v, %v; want code 0", r, err)
	}
	r, err = c.OnSessionEnter(ctx, &flamev1.SessionContext{})
	if err != nil || r.GetReturnCode() != -1 || r.GetMessage() != "no session id" {
		t.Fatalf("OnSessionEnter without id = %v, %v; want code -1 and the message", r, err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB: past the kept buffers
	for _, in := range [][]byte{[]byte("hello"), nil, {}, big, []byte("again")} {
		tr, err := c.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", SessionId: "s1", Input: in})
		if err != nil {
			t.Fatalf("OnTaskInvoke(%d bytes): %v", len(in), err)
		}
		if !bytes.Equal(tr.GetOutput(), in) || (in == nil) != (tr.Output == nil) {
			t.Fatalf("OnTaskInvoke(%d bytes, nil %v) = %d bytes, nil %v", len(in), in == nil, len(tr.GetOutput()), tr.Output == nil)
		}
	}

	// Back-to-back calls: each request may arrive before the goroutine of
	// the previous call has finished.
	for i := range 2000 {
		if _, err := c.OnTaskInvoke(ctx, &flamev1.TaskContext{Input: []byte("n")}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}

	_, err = c.OnTaskInvoke(ctx, &flamev1.TaskContext{Input: []byte("fail")})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "not ready: café" {
		t.Fatalf("failing OnTaskInvoke = %v; want FailedPrecondition with the handler's message", err)
	}
	// A failed call leaves the connection usable.
	r, err = c.OnSessionLeave(ctx, &flamev1.EmptyRequest{})
	if err != nil || r.GetReturnCode() != 7 {
		t.Fatalf("OnSessionLeave = %v, %v; want code 7", r, err)
	}
}

func TestUnknownKindKeepsTheConnection(t *testing.T) {
	_, c := start(t, newHandler())
	// A request of a kind from a later version, written by hand.
	frame := make([]byte, headerLen+3)
	putHeader(frame, 99, 3)
	copy(frame[headerLen:], "xyz")
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	code, msg := readFrame(t, c)
	if codes.Code(code) != codes.Unimplemented || !strings.Contains(string(msg), "unknown call kind 99") {
		t.Fatalf("answer = %v %q; want Unimplemented naming the kind", codes.Code(code), msg)
	}
	if _, err := c.OnTaskInvoke(context.Background(), &flamev1.TaskContext{Input: []byte("ok")}); err != nil {
		t.Fatalf("call after the unknown kind: %v", err)
	}
}

func TestCancelReachesTheHandler(t *testing.T) {
	h := newHandler()
	_, c := start(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.OnTaskInvoke(ctx, &flamev1.TaskContext{Input: []byte("block")})
		errc <- err
	}()
	<-h.started
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call = %v; want Canceled", err)
	}
	// The client closed the connection; the server cancels the handler.
	if err := <-h.cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context ended with %v; want Canceled", err)
	}
	if _, err := c.OnTaskInvoke(context.Background(), &flamev1.TaskContext{Input: []byte("x")}); status.Code(err) != codes.Canceled {
		t.Fatalf("call after a cancelled one = %v; want the same Canceled", err)
	}
}

func TestDeadline(t *testing.T) {
	h := newHandler()
	_, c := start(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.OnTaskInvoke(ctx, &flamev1.TaskContext{Input: []byte("block")}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call past its deadline = %v; want DeadlineExceeded", err)
	}
	<-h.cancelled
}

func TestStopFailsTheCallInProgress(t *testing.T) {
	h := newHandler()
	srv, c := start(t, h)
	errc := make(chan error, 1)
	go func() {
		_, err := c.OnTaskInvoke(context.Background(), &flamev1.TaskContext{Input: []byte("block")})
		errc <- err
	}()
	<-h.started
	srv.Stop()
	err := <-errc
	if status.Code(err) != codes.Unavailable || NotSent(err) {
		t.Fatalf("call during Stop = %v (not sent %v); want Unavailable, sent", err, NotSent(err))
	}
	if !strings.Contains(err.Error(), "waiting for the response") {
		t.Errorf("error %q does not say when the connection was lost", err)
	}
	<-h.cancelled
}

func TestCallAfterTheServerWentIsNotSent(t *testing.T) {
	srv, c := start(t, newHandler())
	srv.Stop() // closes the server's end of the connection
	_, err := c.OnTaskInvoke(context.Background(), &flamev1.TaskContext{Input: []byte("x")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("call to a stopped server = %v; want Unavailable", err)
	}
	// The server's end is closed when Stop returns: the write fails
	// outright, so the request is known not to have been sent.
	if !NotSent(err) || !strings.Contains(err.Error(), "sending the request") {
		t.Errorf("NotSent = %v for %v; want true", NotSent(err), err)
	}
	// So is every later call.
	if _, err := c.OnTaskInvoke(context.Background(), &flamev1.TaskContext{}); !NotSent(err) || status.Code(err) != codes.Unavailable {
		t.Errorf("later call = %v (not sent %v); want Unavailable, not sent", err, NotSent(err))
	}
}

// waitStopping waits until srv has begun to stop.
func waitStopping(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !srv.stopped() {
		if time.Now().After(deadline) {
			t.Fatal("the server did not begin to stop")
		}
		runtime.Gosched()
	}
}

func TestGracefulStopAnswersTheCallInProgress(t *testing.T) {
	h := newHandler()
	srv, c := start(t, h)
	// A second, idle connection is closed at once.
	idle, err := Dial(context.Background(), c.conn.RemoteAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	type answer struct {
		tr  *flamev1.TaskResult
		err error
	}
	ac := make(chan answer, 1)
	go func() {
		tr, err := c.OnTaskInvoke(context.Background(), &flamev1.TaskContext{Input: []byte("hold")})
		ac <- answer{tr, err}
	}()
	<-h.started
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	waitStopping(t, srv)
	if _, err := idle.OnTaskInvoke(context.Background(), &flamev1.TaskContext{Input: []byte("x")}); status.Code(err) != codes.Unavailable {
		t.Fatalf("call on an idle connection during GracefulStop = %v; want Unavailable", err)
	}
	select {
	case <-stopped:
		t.Fatal("GracefulStop returned while a call was in progress")
	default:
	}
	close(h.release)
	a := <-ac
	if a.err != nil || string(a.tr.GetOutput()) != "hold" {
		t.Fatalf("call in progress = %v, %v; want its answer", a.tr, a.err)
	}
	<-stopped
}

func TestDialRejectsOtherServers(t *testing.T) {
	// A gRPC server on the socket (an instance that does not know the
	// framed wire, were the variable set by mistake).
	path := socketPath(t)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	flamev1.RegisterInstanceServer(gs, newHandler())
	go gs.Serve(lis)
	defer gs.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, err := Dial(ctx, path); err == nil {
		c.Close()
		t.Fatal("Dial to a gRPC server succeeded")
	}

	// A server that says something else.
	path2 := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, strings.Repeat("?", len(Preface)))
		_, _ = io.Copy(io.Discard, c)
	})
	if c, err := Dial(ctx, path2); err == nil || !strings.Contains(err.Error(), "not the preface") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial to a server with another preface = %v; want an error naming the preface", err)
	}

	// A server that says nothing: the dial's context bounds the wait.
	path3 := rawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	short, cancel3 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel3()
	if c, err := Dial(short, path3); err == nil {
		c.Close()
		t.Fatal("Dial to a silent server succeeded")
	}
}

func TestRequestsSentTogetherRunInTurn(t *testing.T) {
	h := newHandler()
	_, c := start(t, h)
	var frames []byte
	for _, in := range []string{"hold", "second"} {
		frame, _ := proto.MarshalOptions{}.MarshalAppend(make([]byte, headerLen), &flamev1.TaskContext{Input: []byte(in)})
		putHeader(frame, KindInvoke, len(frame)-headerLen)
		frames = append(frames, frame...)
	}
	if _, err := c.conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	if in := <-h.started; in != "hold" {
		t.Fatalf("first call = %q", in)
	}
	select {
	case in := <-h.started:
		t.Fatalf("call %q started while the first ran", in)
	default:
	}
	close(h.release)
	for _, want := range []string{"hold", "second"} {
		code, payload := readFrame(t, c)
		var tr flamev1.TaskResult
		if err := proto.Unmarshal(payload, &tr); codes.Code(code) != codes.OK || err != nil || string(tr.GetOutput()) != want {
			t.Fatalf("answer = %v %q, %v; want OK %q", codes.Code(code), tr.GetOutput(), err, want)
		}
	}
}

// readFrame reads one response frame from c's connection by hand.
func readFrame(t *testing.T, c *Client) (code byte, payload []byte) {
	t.Helper()
	var hdr [headerLen]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		t.Fatal(err)
	}
	code, n := parseHeader(hdr[:])
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.r, payload); err != nil {
		t.Fatal(err)
	}
	return code, payload
}

// TestGracefulStopRefusesWithAnAnswer: a request that arrives while the
// server stops is answered as not run, and the client reports it as not
// sent, so that the executor gives the task to another instance.
func TestGracefulStopRefusesWithAnAnswer(t *testing.T) {
	h := newHandler()
	srv, c := start(t, h)
	frame := func(in string) []byte {
		f, _ := proto.MarshalOptions{}.MarshalAppend(make([]byte, headerLen), &flamev1.TaskContext{Input: []byte(in)})
		putHeader(f, KindInvoke, len(f)-headerLen)
		return f
	}
	if _, err := c.conn.Write(frame("hold")); err != nil {
		t.Fatal(err)
	}
	<-h.started
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	waitStopping(t, srv)
	// A request sent by hand while the first runs (the Client never does).
	if _, err := c.conn.Write(frame("late")); err != nil {
		t.Fatal(err)
	}
	close(h.release)
	if code, _ := readFrame(t, c); codes.Code(code) != codes.OK {
		t.Fatalf("answer to the call in progress: code %v", code)
	}
	if code, n := readFrame(t, c); code != codeRefused || len(n) != 0 {
		t.Fatalf("answer to the late request: code %d, %d bytes; want %d", code, len(n), codeRefused)
	}
	<-stopped

	// The Client turns the refusal into Unavailable, not sent.
	path := rawServer(t, func(conn net.Conn) {
		buf := make([]byte, len(Preface))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		_, _ = io.WriteString(conn, Preface)
		var hdr [headerLen]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return
		}
		_, n := parseHeader(hdr[:])
		if _, err := io.CopyN(io.Discard, conn, int64(n)); err != nil {
			return
		}
		putHeader(hdr[:], codeRefused, 0)
		_, _ = conn.Write(hdr[:])
	})
	rc, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.OnTaskInvoke(context.Background(), &flamev1.TaskContext{}); !NotSent(err) || status.Code(err) != codes.Unavailable {
		t.Fatalf("refused call = %v (not sent %v); want Unavailable, not sent", err, NotSent(err))
	}
}

// TestGracefulStopWaitsForACancelledHandler: when the client goes away
// during a call, the call is cancelled, and a graceful stop still waits
// for its handler to return, as grpc.Server does.
func TestGracefulStopWaitsForACancelledHandler(t *testing.T) {
	released := make(chan struct{})
	stopped := make(chan struct{})
	early := make(chan bool, 1)
	h := &slowCancel{started: make(chan struct{}), cancelled: make(chan struct{}), release: released, stopped: stopped, early: early}
	srv, c := start(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.OnTaskInvoke(ctx, &flamev1.TaskContext{})
		errc <- err
	}()
	<-h.started
	cancel()
	<-errc
	<-h.cancelled // the handler saw the cancellation and is still running
	go func() { srv.GracefulStop(); close(stopped) }()
	waitStopping(t, srv)
	close(released)
	<-stopped
	if <-early {
		t.Fatal("GracefulStop returned before the handler of a cancelled call")
	}
}

// slowCancel's OnTaskInvoke, once cancelled, waits for release and then
// reports on early whether stopped was already closed.
type slowCancel struct {
	flamev1.UnimplementedInstanceServer
	started, cancelled chan struct{}
	release, stopped   chan struct{}
	early              chan bool
}

func (h *slowCancel) OnTaskInvoke(ctx context.Context, _ *flamev1.TaskContext) (*flamev1.TaskResult, error) {
	close(h.started)
	<-ctx.Done()
	close(h.cancelled)
	<-h.release
	select {
	case <-h.stopped:
		h.early <- true
	default:
		h.early <- false
	}
	return nil, ctx.Err()
}

// rawServer serves one connection on a fresh socket with handle, which
// plays the server's side by hand, and returns the socket's path.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	path := socketPath(t)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		handle(c)
	}()
	t.Cleanup(func() {
		lis.Close()
		<-done
	})
	return path
}
