package service_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/internal/instancewire"
	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestRunContext_SessionLifecycle(t *testing.T) {
	// The handlers run on server goroutines; they hand what they saw to the
	// test through channels (the race detector cannot see the ordering a
	// socket round trip gives).
	sessions := make(chan *service.SessionContext, 1)
	tasks := make(chan service.TaskContext, 1)
	leaves := make(chan struct{}, 1)
	svc := &funcService{
		enter: func(_ context.Context, sc *service.SessionContext) error {
			sessions <- sc
			return nil
		},
		invoke: func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
			tasks <- *tc
			return append([]byte("echo:"), tc.Input...), nil
		},
		leave: func(context.Context) error {
			leaves <- struct{}{}
			return nil
		},
	}
	ts := startServer(t, svc)
	ctx := callCtx(t)

	res, err := ts.client.OnSessionEnter(ctx, &flamev1.SessionContext{
		SessionId: "ssn-1",
		Application: &flamev1.ApplicationContext{
			Name:             "my-app",
			Shim:             flamev1.Shim_Host,
			Image:            ptr("img:1"),
			Command:          ptr("/bin/my-app"),
			WorkingDirectory: ptr("/srv/app"),
			Url:              ptr("file:///pkg.tar.gz"),
			Installer:        ptr("binary"),
		},
		CommonData: []byte("shared"),
	}, waitForReady)
	if err != nil {
		t.Fatalf("OnSessionEnter: %v", err)
	}
	if res.GetReturnCode() != 0 || res.Message != nil {
		t.Fatalf("OnSessionEnter result = %v, want return code 0 and no message", res)
	}
	gotSession := <-sessions
	wantApp := service.ApplicationContext{
		Name: "my-app", Shim: "Host", Image: "img:1", Command: "/bin/my-app",
		WorkingDirectory: "/srv/app", URL: "file:///pkg.tar.gz", Installer: "binary",
	}
	if gotSession.SessionID != "ssn-1" {
		t.Errorf("SessionID = %q, want ssn-1", gotSession.SessionID)
	}
	if diff := cmp.Diff(wantApp, gotSession.Application); diff != "" {
		t.Errorf("application context (-want +got):\n%s", diff)
	}
	if got := string(gotSession.CommonData()); got != "shared" {
		t.Errorf("CommonData() = %q, want %q", got, "shared")
	}

	tr, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", SessionId: "ssn-1", Input: []byte("hi")})
	if err != nil {
		t.Fatalf("OnTaskInvoke: %v", err)
	}
	if tr.GetReturnCode() != 0 || string(tr.GetOutput()) != "echo:hi" || tr.Message != nil {
		t.Errorf("task result = %v, want code 0, output echo:hi, no message", tr)
	}
	want := service.TaskContext{TaskID: "1", SessionID: "ssn-1", Input: []byte("hi")}
	if diff := cmp.Diff(want, <-tasks); diff != "" {
		t.Errorf("task context (-want +got):\n%s", diff)
	}

	lr, err := ts.client.OnSessionLeave(ctx, &flamev1.EmptyRequest{})
	if err != nil || lr.GetReturnCode() != 0 {
		t.Fatalf("OnSessionLeave = %v, %v; want return code 0", lr, err)
	}
	select {
	case <-leaves:
	default:
		t.Error("OnSessionLeave was not called on the service")
	}
	if err := ts.stop(t); err != nil {
		t.Errorf("RunContext after cancel = %v, want nil", err)
	}
}

func TestRunContext_AbsentCommonDataAndInputAreNil(t *testing.T) {
	// Each handler hands what it saw to the test through a channel.
	commons := make(chan []byte, 1)
	inputs := make(chan []byte, 2)
	svc := &funcService{
		enter: func(_ context.Context, sc *service.SessionContext) error {
			commons <- sc.CommonData()
			return nil
		},
		invoke: func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
			inputs <- tc.Input
			return nil, nil
		},
	}
	ts := startServer(t, svc)
	ctx := callCtx(t)
	if _, err := ts.client.OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s"}, waitForReady); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", SessionId: "s"}); err != nil {
		t.Fatal(err)
	}
	if common := <-commons; common != nil {
		t.Errorf("CommonData() = %v, want nil for a session without common data", common)
	}
	if input := <-inputs; input != nil {
		t.Errorf("Input = %v, want nil for a task without input", input)
	}

	// Present but empty stays distinguishable from absent.
	if _, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "2", SessionId: "s", Input: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if input := <-inputs; input == nil || len(input) != 0 {
		t.Errorf("Input = %v, want an empty non-nil slice for an empty input", input)
	}
}

func TestRunContext_HandlerErrorsBecomeReturnCodes(t *testing.T) {
	svc := &funcService{
		enter: func(context.Context, *service.SessionContext) error { return errors.New("no GPU here") },
		invoke: func(context.Context, *service.TaskContext) ([]byte, error) {
			return []byte("ignored"), errors.New("bad input: want a number")
		},
		leave: func(context.Context) error { return errors.New("cleanup failed") },
	}
	ts := startServer(t, svc)
	ctx := callCtx(t)

	res, err := ts.client.OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s"}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetReturnCode() != -1 || res.GetMessage() != "no GPU here" {
		t.Errorf("OnSessionEnter = %v, want -1 / %q", res, "no GPU here")
	}
	tr, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", SessionId: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetReturnCode() != -1 || tr.GetMessage() != "bad input: want a number" || tr.Output != nil {
		t.Errorf("OnTaskInvoke = %v, want -1 / %q and no output", tr, "bad input: want a number")
	}
	lr, err := ts.client.OnSessionLeave(ctx, &flamev1.EmptyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if lr.GetReturnCode() != -1 || lr.GetMessage() != "cleanup failed" {
		t.Errorf("OnSessionLeave = %v, want -1 / %q", lr, "cleanup failed")
	}
}

func TestRunContext_PanicFailsTheCallAndServingContinues(t *testing.T) {
	svc := &funcService{
		enter: func(context.Context, *service.SessionContext) error { panic("enter exploded") },
		invoke: func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
			if string(tc.Input) == "panic" {
				panic("boom")
			}
			return []byte("ok"), nil
		},
	}
	ts := startServer(t, svc)
	ctx := callCtx(t)

	res, err := ts.client.OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s"}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetReturnCode() != -1 || res.GetMessage() != "panic: enter exploded" {
		t.Errorf("OnSessionEnter = %v, want -1 / %q", res, "panic: enter exploded")
	}
	tr, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", SessionId: "s", Input: []byte("panic")})
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetReturnCode() != -1 || tr.GetMessage() != "panic: boom" {
		t.Errorf("panicking task = %v, want -1 / %q", tr, "panic: boom")
	}
	tr, err = ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "2", SessionId: "s", Input: []byte("fine")})
	if err != nil {
		t.Fatalf("task after a panic: %v", err)
	}
	if tr.GetReturnCode() != 0 || string(tr.GetOutput()) != "ok" {
		t.Errorf("task after a panic = %v, want 0 / ok", tr)
	}
	logs := ts.logs.String()
	for _, want := range []string{"service handler panicked", "panic=boom", "rpc=OnTaskInvoke", "run_test.go"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestRunContext_NilOutputVersusEmptyOutput(t *testing.T) {
	svc := &funcService{invoke: func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
		if string(tc.Input) == "nil" {
			return nil, nil
		}
		return []byte{}, nil
	}}
	ts := startServer(t, svc)
	ctx := callCtx(t)

	tr, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", Input: []byte("nil")}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetReturnCode() != 0 || tr.Output != nil {
		t.Errorf("nil output: result %v, want code 0 and output absent", tr)
	}
	tr, err = ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "2", Input: []byte("empty")})
	if err != nil {
		t.Fatal(err)
	}
	if tr.GetReturnCode() != 0 || tr.Output == nil || len(tr.Output) != 0 {
		t.Errorf("empty output: result %v (output nil: %v), want code 0 and an empty output present", tr, tr.Output == nil)
	}
}

func TestRunContext_ServesOnEndpointFromEnv(t *testing.T) {
	for _, prefix := range []string{"", "unix://"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			socket := filepath.Join(shortTempDir(t), "e.sock")
			t.Setenv(service.EndpointEnv, prefix+socket)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- service.RunContext(ctx, &funcService{}, service.WithLogger(discardLogger())) }()

			conn := dial(t, socket)
			defer conn.Close()
			tr, err := flamev1.NewInstanceClient(conn).OnTaskInvoke(callCtx(t),
				&flamev1.TaskContext{TaskId: "1", Input: []byte("x")}, waitForReady)
			if err != nil || string(tr.GetOutput()) != "x" {
				t.Fatalf("OnTaskInvoke = %v, %v; want output x", tr, err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("RunContext = %v, want nil", err)
			}
			if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket still there after shutdown (Lstat: %v)", err)
			}
		})
	}
}

func TestRunContext_RemovesStaleSocket(t *testing.T) {
	socket := filepath.Join(shortTempDir(t), "stale.sock")
	// A socket file whose server is gone, as a killed instance leaves it.
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	lis.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = lis.Close()
	if fi, err := os.Lstat(socket); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("setup: want a stale socket file, got %v, %v", fi, err)
	}

	t.Setenv(service.EndpointEnv, socket)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.RunContext(ctx, &funcService{}, service.WithLogger(discardLogger())) }()
	conn := dial(t, socket)
	defer conn.Close()
	if _, err := flamev1.NewInstanceClient(conn).OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1"}, waitForReady); err != nil {
		t.Fatalf("OnTaskInvoke over the replaced socket: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunContext = %v, want nil", err)
	}
}

func TestRunContext_RefusesToRemoveNonSocket(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "data.txt")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(service.EndpointEnv, path)
	err := service.RunContext(context.Background(), &funcService{}, service.WithLogger(discardLogger()))
	if err == nil || !strings.Contains(err.Error(), "is not a socket") || !strings.Contains(err.Error(), path) {
		t.Fatalf("RunContext = %v, want an error saying %s is not a socket", err, path)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "precious" {
		t.Errorf("file after refusal = %q, %v; want it untouched", got, err)
	}
}

func TestRunContext_RefusesSocketInUse(t *testing.T) {
	socket := filepath.Join(shortTempDir(t), "busy.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	t.Setenv(service.EndpointEnv, socket)
	err = service.RunContext(context.Background(), &funcService{}, service.WithLogger(discardLogger()))
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("RunContext = %v, want an in-use error", err)
	}
	if _, err := os.Lstat(socket); err != nil {
		t.Errorf("live socket was removed: %v", err)
	}
}

func TestRunContext_MissingEndpoint(t *testing.T) {
	t.Setenv(service.EndpointEnv, "")
	err := service.RunContext(context.Background(), &funcService{})
	if !errors.Is(err, service.ErrNoEndpoint) {
		t.Fatalf("RunContext = %v, want ErrNoEndpoint", err)
	}
	for _, want := range []string{"FLAME_INSTANCE_ENDPOINT is not set", "Unix socket", "FLAME_INSTANCE_ENDPOINT=/tmp/svc.sock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRunContext_RejectsBadEndpoints(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"scheme only", "unix://", "names no socket path"},
		{"too long", "/tmp/" + strings.Repeat("x", 120) + ".sock", "more than the 107"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(service.EndpointEnv, tc.value)
			err := service.RunContext(context.Background(), &funcService{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunContext = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRunContext_NilService(t *testing.T) {
	err := service.RunContext(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "service is nil") {
		t.Fatalf("RunContext(nil) = %v, want a nil-service error", err)
	}
}

func TestRunContext_GracefulShutdownFinishesTaskInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var leaveCalled atomic.Bool
	svc := &funcService{
		invoke: func(ctx context.Context, _ *service.TaskContext) ([]byte, error) {
			close(started)
			<-release
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return []byte("finished"), nil
		},
		leave: func(context.Context) error {
			leaveCalled.Store(true)
			return nil
		},
	}
	ts := startServer(t, svc)

	type reply struct {
		res *flamev1.TaskResult
		err error
	}
	replies := make(chan reply, 1)
	go func() {
		res, err := ts.client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1"}, waitForReady)
		replies <- reply{res, err}
	}()
	<-started
	ts.cancel()

	// The task holds the shutdown open until it is released.
	select {
	case err := <-ts.done:
		t.Fatalf("RunContext returned %v while a task was in progress", err)
	default:
	}
	close(release)

	r := <-replies
	if r.err != nil || r.res.GetReturnCode() != 0 || string(r.res.GetOutput()) != "finished" {
		t.Fatalf("in-flight task = %v, %v; want it to finish with output 'finished'", r.res, r.err)
	}
	if err := ts.wait(t); err != nil {
		t.Fatalf("RunContext = %v, want nil after a clean shutdown", err)
	}
	if leaveCalled.Load() {
		t.Error("shutdown called OnSessionLeave; it must call nothing else")
	}
	if _, err := os.Lstat(ts.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after shutdown (Lstat: %v)", err)
	}
}

func TestRunContext_GracePeriodExpires(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	svc := &funcService{invoke: func(ctx context.Context, _ *service.TaskContext) ([]byte, error) {
		close(started)
		<-ctx.Done() // a task that only stops when told to
		close(cancelled)
		return nil, ctx.Err()
	}}
	ts := startServer(t, svc, service.WithGracePeriod(1))

	callErr := make(chan error, 1)
	go func() {
		_, err := ts.client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1"}, waitForReady)
		callErr <- err
	}()
	<-started
	err := ts.stop(t)
	if !errors.Is(err, service.ErrGracePeriodExpired) {
		t.Fatalf("RunContext = %v, want ErrGracePeriodExpired", err)
	}
	if err := <-callErr; status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Errorf("client saw %v, want Unavailable or Canceled after a forced stop", err)
	}
	<-cancelled // the handler's context was cancelled, so it could return
}

func TestTaskFunc(t *testing.T) {
	f := service.TaskFunc(func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
		return bytes.ToUpper(tc.Input), nil
	})
	ctx := context.Background()
	if err := f.OnSessionEnter(ctx, service.NewSessionContext("s", service.ApplicationContext{}, nil)); err != nil {
		t.Errorf("OnSessionEnter = %v", err)
	}
	out, err := f.OnTaskInvoke(ctx, &service.TaskContext{Input: []byte("abc")})
	if err != nil || string(out) != "ABC" {
		t.Errorf("OnTaskInvoke = %q, %v; want ABC", out, err)
	}
	if err := f.OnSessionLeave(ctx); err != nil {
		t.Errorf("OnSessionLeave = %v", err)
	}
}

// startFramed runs RunContext on sockets named by the environment, as the
// executor manager starts an instance, with the framed wire offered. It
// returns a framed client and the gRPC socket (the framed one is socket+"f").
func startFramed(t *testing.T, svc service.Service, opts ...service.Option) (*instancewire.Client, string, context.CancelFunc, chan error) {
	t.Helper()
	socket := filepath.Join(shortTempDir(t), "i.sock")
	t.Setenv(service.EndpointEnv, socket)
	t.Setenv(instancewire.EndpointEnv, socket+"f")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	all := append([]service.Option{service.WithLogger(discardLogger())}, opts...)
	go func() { done <- service.RunContext(ctx, svc, all...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			done <- err
		case <-time.After(waitTimeout):
			t.Error("RunContext did not return after cancel")
		}
	})
	// Once gRPC answers, the framed socket exists: it is listened on first.
	conn := dial(t, socket)
	defer conn.Close()
	if _, err := flamev1.NewInstanceClient(conn).OnSessionEnter(callCtx(t), &flamev1.SessionContext{SessionId: "s"}, waitForReady); err != nil {
		t.Fatal(err)
	}
	c, err := instancewire.Dial(callCtx(t), socket+"f")
	if err != nil {
		t.Fatalf("framed socket: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, socket, cancel, done
}

func TestRunContext_ServesTheFramedWireWhenOffered(t *testing.T) {
	svc := &funcService{invoke: func(_ context.Context, tc *service.TaskContext) ([]byte, error) {
		switch string(tc.Input) {
		case "err":
			return nil, errors.New("bad input")
		case "panic":
			panic("boom")
		}
		return tc.Input, nil
	}}
	c, socket, cancel, done := startFramed(t, svc)
	ctx := callCtx(t)
	if r, err := c.OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "s"}); err != nil || r.GetReturnCode() != 0 {
		t.Fatalf("OnSessionEnter = %v, %v", r, err)
	}
	for _, tc := range []struct {
		in, out, msg string
		code         int32
	}{{"x", "x", "", 0}, {"err", "", "bad input", -1}, {"panic", "", "panic: boom", -1}, {"y", "y", "", 0}} {
		r, err := c.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", Input: []byte(tc.in)})
		if err != nil || r.GetReturnCode() != tc.code || string(r.GetOutput()) != tc.out || r.GetMessage() != tc.msg {
			t.Errorf("OnTaskInvoke(%q) = %v, %v; want code %d output %q message %q", tc.in, r, err, tc.code, tc.out, tc.msg)
		}
	}
	if r, err := c.OnSessionLeave(ctx, &flamev1.EmptyRequest{}); err != nil || r.GetReturnCode() != 0 {
		t.Fatalf("OnSessionLeave = %v, %v", r, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunContext = %v, want nil", err)
	}
	done <- nil // for the cleanup
	for _, p := range []string{socket, socket + "f"} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s still there after shutdown (Lstat: %v)", p, err)
		}
	}
}

func TestRunContext_FramedCallsAndShutdown(t *testing.T) {
	t.Run("graceful", func(t *testing.T) {
		started, release := make(chan struct{}), make(chan struct{})
		svc := &funcService{invoke: func(context.Context, *service.TaskContext) ([]byte, error) {
			close(started)
			<-release
			return []byte("finished"), nil
		}}
		c, _, cancel, done := startFramed(t, svc)
		replies := make(chan *flamev1.TaskResult, 1)
		go func() {
			r, err := c.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1"})
			if err != nil {
				t.Error(err)
			}
			replies <- r
		}()
		<-started
		cancel()
		select {
		case err := <-done:
			t.Fatalf("RunContext returned %v while a framed task was in progress", err)
		default:
		}
		close(release)
		if r := <-replies; string(r.GetOutput()) != "finished" {
			t.Fatalf("in-flight task = %v; want it to finish", r)
		}
		if err := <-done; err != nil {
			t.Fatalf("RunContext = %v, want nil", err)
		}
		done <- nil // for the cleanup
	})
	t.Run("grace expires", func(t *testing.T) {
		started, cancelled := make(chan struct{}), make(chan struct{})
		svc := &funcService{invoke: func(ctx context.Context, _ *service.TaskContext) ([]byte, error) {
			close(started)
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		}}
		c, _, cancel, done := startFramed(t, svc, service.WithGracePeriod(1))
		callErr := make(chan error, 1)
		go func() {
			_, err := c.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1"})
			callErr <- err
		}()
		<-started
		cancel()
		if err := <-done; !errors.Is(err, service.ErrGracePeriodExpired) {
			t.Fatalf("RunContext = %v, want ErrGracePeriodExpired", err)
		}
		done <- nil // for the cleanup
		if err := <-callErr; status.Code(err) != codes.Unavailable {
			t.Errorf("framed client saw %v, want Unavailable after a forced stop", err)
		}
		<-cancelled
	})
}

func TestRunContext_UnusableFramedSocketLeavesGRPC(t *testing.T) {
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "i.sock")
	notSocket := filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(service.EndpointEnv, socket)
	t.Setenv(instancewire.EndpointEnv, notSocket)
	logger, logs := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.RunContext(ctx, &funcService{}, service.WithLogger(logger)) }()
	conn := dial(t, socket)
	defer conn.Close()
	if tr, err := flamev1.NewInstanceClient(conn).OnTaskInvoke(callCtx(t), &flamev1.TaskContext{Input: []byte("x")}, waitForReady); err != nil || string(tr.GetOutput()) != "x" {
		t.Fatalf("OnTaskInvoke over gRPC = %v, %v", tr, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunContext = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), "not serving the framed instance wire") {
		t.Errorf("no warning about the framed socket in the logs:\n%s", logs.String())
	}
	if fi, err := os.Lstat(notSocket); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the file named by %s was touched: %v, %v", instancewire.EndpointEnv, fi, err)
	}
}

func TestRunContext_GracePeriodExpiresWithAHandlerThatIgnoresIt(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	svc := &funcService{invoke: func(context.Context, *service.TaskContext) ([]byte, error) {
		close(started)
		<-release // ignores its context
		return nil, nil
	}}
	ts := startServer(t, svc, service.WithGracePeriod(1))
	// Let the handler (and the server's goroutines waiting for it) end
	// before the leak check.
	defer close(release)
	go func() { _, _ = ts.client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: "1"}, waitForReady) }()
	<-started
	if err := ts.stop(t); !errors.Is(err, service.ErrGracePeriodExpired) {
		t.Fatalf("RunContext = %v, want ErrGracePeriodExpired", err)
	}
	if !strings.Contains(ts.logs.String(), "ignored its cancellation") {
		t.Errorf("logs do not say the call was left behind:\n%s", ts.logs.String())
	}
}
