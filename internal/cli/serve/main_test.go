package serve

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Roles this test binary plays when the tests start it again.
const (
	// serveArgsEnv holds base64(JSON) of the arguments of "flmctl serve":
	// the binary is then that command, as an application's instance.
	serveArgsEnv = "FLMCTL_SERVE_TEST_ARGS"
	// noopEnv makes the binary a Go service that does nothing (pkg/service).
	noopEnv = "FLMCTL_SERVE_TEST_NOOP"
	// lengthEchoEnv makes the binary a length-framed stream command.
	lengthEchoEnv = "FLMCTL_SERVE_TEST_LENGTH_ECHO"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(serveArgsEnv) != "":
		os.Exit(runServeCommand(os.Getenv(serveArgsEnv)))
	case os.Getenv(noopEnv) != "":
		noop := service.TaskFunc(func(_ context.Context, tc *service.TaskContext) ([]byte, error) { return tc.Input, nil })
		if err := service.Run(noop); err != nil {
			fmt.Fprintln(os.Stderr, "noop service:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(lengthEchoEnv) != "":
		os.Exit(lengthEcho(os.Stdin, os.Stdout))
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runServeCommand is "flmctl serve ARGS" with the signal handling of Main.
func runServeCommand(encoded string) int {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	var args []string
	if err == nil {
		err = json.Unmarshal(raw, &args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad", serveArgsEnv, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	f := cmdutil.New(iostreams.System(os.LookupEnv), os.LookupEnv, cmdutil.BuildInfo{})
	cmd := NewCmdServe(f, nil)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}

func encodeArgs(args ...string) string {
	raw, _ := json.Marshal(args)
	return base64.StdEncoding.EncodeToString(raw)
}

// lengthEcho is a stream command with length framing: it answers each
// record with "echo:" and the record; "die" makes it exit with status 5
// and "garbage" makes it answer with an impossible length.
func lengthEcho(in io.Reader, out io.Writer) int {
	r := bufio.NewReader(in)
	w := bufio.NewWriter(out)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0 // stdin closed: the session is over
		}
		data := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(r, data); err != nil {
			fmt.Fprintln(os.Stderr, "short record:", err)
			return 1
		}
		switch string(data) {
		case "die":
			fmt.Fprintln(os.Stderr, "dying on request")
			return 5
		case "garbage":
			_, _ = w.Write([]byte{0xff, 0xff, 0xff, 0xff})
			_ = w.Flush()
			continue
		}
		reply := append([]byte("echo:"), data...)
		_, _ = w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(reply))))
		_, _ = w.Write(reply)
		if err := w.Flush(); err != nil {
			return 1
		}
	}
}

// waitTimeout bounds every wait; it is reached only when something is
// broken.
const waitTimeout = 20 * time.Second

// shortTempDir returns a fresh directory with a path short enough for a
// Unix socket.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "srv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// waitFor polls cond until it returns nil, failing with its last error
// after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		<-time.After(tick)
		tick = min(2*tick, 50*time.Millisecond)
	}
}

// processGone reports whether pid no longer runs (absent or a zombie).
func processGone(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// pid (comm) STATE ...
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
		return nil
	}
	return fmt.Errorf("process %d still runs", pid)
}

// testInstance is serveRun serving on a fresh socket with a real gRPC
// Instance client.
type testInstance struct {
	client flamev1.InstanceClient
	dir    string
	errOut interface{ String() string }
	cancel context.CancelFunc
	done   chan error
}

// startServe runs serveRun(opts) with --listen on a fresh socket. The
// directory of the socket is also the TempDir of the common data files.
func startServe(t *testing.T, opts *Options) *testInstance {
	t.Helper()
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "i.sock")
	ios, _, _, errOut := iostreams.Test()
	opts.IO = ios
	opts.Listen = "unix://" + sock
	opts.TempDir = dir
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ
	}
	if opts.Framing == "" {
		opts.Framing = FramingLine
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &testInstance{dir: dir, errOut: errOut, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- serveRun(ctx, opts) }()
	conn, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.5, MaxDelay: 50 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	in.client = flamev1.NewInstanceClient(conn)
	t.Cleanup(func() {
		_ = conn.Close()
		in.stop(t)
	})
	return in
}

// stop ends serveRun and returns its error.
func (in *testInstance) stop(t *testing.T) error {
	t.Helper()
	in.cancel()
	select {
	case err := <-in.done:
		in.done <- err
		return err
	case <-time.After(waitTimeout):
		t.Fatal("serveRun did not return")
		return nil
	}
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (in *testInstance) enter(t *testing.T, session string, common []byte) *flamev1.Result {
	t.Helper()
	res, err := in.client.OnSessionEnter(callCtx(t), &flamev1.SessionContext{SessionId: session, CommonData: common})
	if err != nil {
		t.Fatalf("OnSessionEnter: %v", err)
	}
	return res
}

func (in *testInstance) mustEnter(t *testing.T, session string, common []byte) {
	t.Helper()
	if res := in.enter(t, session, common); res.GetReturnCode() != 0 {
		t.Fatalf("OnSessionEnter failed: %d %s", res.GetReturnCode(), res.GetMessage())
	}
}

func (in *testInstance) invoke(t *testing.T, task string, input []byte) *flamev1.TaskResult {
	t.Helper()
	res, err := in.client.OnTaskInvoke(callCtx(t), &flamev1.TaskContext{TaskId: task, SessionId: "s", Input: input})
	if err != nil {
		t.Fatalf("OnTaskInvoke: %v", err)
	}
	return res
}

// mustInvoke runs a task that must succeed and returns its output.
func (in *testInstance) mustInvoke(t *testing.T, task string, input []byte) string {
	t.Helper()
	res := in.invoke(t, task, input)
	if res.GetReturnCode() != 0 {
		t.Fatalf("task %s failed: %d %s", task, res.GetReturnCode(), res.GetMessage())
	}
	return string(res.GetOutput())
}

// mustFail runs a task that must fail and returns its message.
func (in *testInstance) mustFail(t *testing.T, task string, input []byte) string {
	t.Helper()
	res := in.invoke(t, task, input)
	if res.GetReturnCode() != -1 {
		t.Fatalf("task %s: return code %d (output %q), want -1", task, res.GetReturnCode(), res.GetOutput())
	}
	return res.GetMessage()
}

func (in *testInstance) leave(t *testing.T) *flamev1.Result {
	t.Helper()
	res, err := in.client.OnSessionLeave(callCtx(t), &flamev1.EmptyRequest{})
	if err != nil {
		t.Fatalf("OnSessionLeave: %v", err)
	}
	return res
}

// commonFiles lists the common data files in the instance's TempDir.
func (in *testInstance) commonFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(in.dir, "flame-common-data-*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }
