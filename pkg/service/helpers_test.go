package service_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// helperEnv switches the test binary into the subprocess role of
// TestRun_SIGTERMFinishesTaskAndExitsZero.
const helperEnv = "FLMCTL_SERVICE_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runHelperProcess())
	}
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; it is only reached when
// something is broken.
const waitTimeout = 10 * time.Second

// shortTempDir returns a fresh directory with a short path: t.TempDir()
// paths can exceed the ~108 bytes a Unix socket path may have.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "svc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// syncBuffer is a bytes.Buffer safe for a logger writing from server
// goroutines while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// funcService is a Service made of optional functions.
type funcService struct {
	enter  func(ctx context.Context, sc *service.SessionContext) error
	invoke func(ctx context.Context, tc *service.TaskContext) ([]byte, error)
	leave  func(ctx context.Context) error
}

func (f *funcService) OnSessionEnter(ctx context.Context, sc *service.SessionContext) error {
	if f.enter == nil {
		return nil
	}
	return f.enter(ctx, sc)
}

func (f *funcService) OnTaskInvoke(ctx context.Context, tc *service.TaskContext) ([]byte, error) {
	if f.invoke == nil {
		return tc.Input, nil
	}
	return f.invoke(ctx, tc)
}

func (f *funcService) OnSessionLeave(ctx context.Context) error {
	if f.leave == nil {
		return nil
	}
	return f.leave(ctx)
}

// testServer is a service served by RunContext on a real Unix socket, with
// a real gRPC client connected to it.
type testServer struct {
	client flamev1.InstanceClient
	socket string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	conn   *grpc.ClientConn
}

// startServer serves svc on a socket in a fresh directory. Cleanup stops the
// server (if the test has not) and closes the client.
func startServer(t *testing.T, svc service.Service, opts ...service.Option) *testServer {
	t.Helper()
	socket := filepath.Join(shortTempDir(t), "i.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{socket: socket, logs: logs, cancel: cancel, done: make(chan error, 1)}
	all := append([]service.Option{service.WithListener(lis), service.WithLogger(logger)}, opts...)
	go func() { ts.done <- service.RunContext(ctx, svc, all...) }()
	ts.conn = dial(t, socket)
	ts.client = flamev1.NewInstanceClient(ts.conn)
	t.Cleanup(func() {
		_ = ts.conn.Close()
		cancel()
		select {
		case <-ts.done:
		case <-time.After(waitTimeout):
			t.Error("RunContext did not return after cancel")
		}
	})
	return ts
}

// stop cancels the server's context and returns RunContext's result.
func (ts *testServer) stop(t *testing.T) error {
	t.Helper()
	ts.cancel()
	return ts.wait(t)
}

func (ts *testServer) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-ts.done:
		ts.done <- err // let Cleanup's receive succeed too
		return err
	case <-time.After(waitTimeout):
		t.Fatal("RunContext did not return")
		return nil
	}
}

// dial connects to a Unix socket; calls made with waitForReady wait until
// the server is up, retrying quickly.
func dial(t *testing.T, socket string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.5, MaxDelay: 50 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

var waitForReady = grpc.WaitForReady(true)

func ptr[T any](v T) *T { return &v }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
