package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/flmctl/flmctl/internal/instancewire"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The test binary doubles as the instance program: when the manager starts
// it with FLMCTL_TEST_INSTANCE set (through the application's
// environments), TestMain serves flame.v1.Instance on
// $FLAME_INSTANCE_ENDPOINT instead of running tests.
const (
	instanceModeEnv = "FLMCTL_TEST_INSTANCE"
	instanceLogEnv  = "FLMCTL_TEST_LOG"
)

// Instance modes.
const (
	modeServe      = "serve"       // normal service; task input drives it (see OnTaskInvoke)
	modeFailEnter  = "fail-enter"  // OnSessionEnter returns a failure
	modeCrashEnter = "crash-enter" // OnSessionEnter writes to stderr and exits 4
	modeExitEarly  = "exit-early"  // writes to stderr and exits 2 before creating the socket
	modeNoSocket   = "no-socket"   // never creates the socket
	modeIgnoreTerm = "ignore-term" // serves, but ignores SIGTERM
	// modeFramed serves the framed wire too when it is offered (as
	// pkg/service does), and logs the wire of every call.
	modeFramed = "framed"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(instanceModeEnv); mode != "" {
		os.Exit(runInstance(mode))
	}
	goleak.VerifyTestMain(m)
}

// logEvent appends "<pid> <event>" to the test's instance log. One small
// O_APPEND write per event keeps lines whole across processes.
func logEvent(format string, args ...any) {
	path := os.Getenv(instanceLogEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	_, _ = fmt.Fprintf(f, "%d %s\n", os.Getpid(), fmt.Sprintf(format, args...))
	_ = f.Close()
}

func runInstance(mode string) int {
	logEvent("start %s", mode)
	fmt.Fprintln(os.Stdout, "instance stdout line")
	fmt.Fprintln(os.Stderr, "instance stderr line")

	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	go func() {
		for range terms {
			if mode == modeIgnoreTerm {
				logEvent("sigterm-ignored")
				continue
			}
			logEvent("sigterm")
			os.Exit(0)
		}
	}()

	switch mode {
	case modeExitEarly:
		fmt.Fprintln(os.Stderr, "boom: cannot start")
		return 2
	case modeNoSocket:
		select {} // until SIGTERM
	}
	var impl flamev1.InstanceServer = &testInstance{mode: mode}
	if fsock := os.Getenv(instancewire.EndpointEnv); mode == modeFramed && fsock != "" {
		// Listening before the gRPC socket exists, as pkg/service does.
		flis, err := net.Listen("unix", fsock)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			return 1
		}
		fs := instancewire.NewServer(wireLogger{impl, "framed"})
		go func() { _ = fs.Serve(flis) }()
	}
	lis, err := net.Listen("unix", os.Getenv("FLAME_INSTANCE_ENDPOINT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 1
	}
	srv := grpc.NewServer()
	if mode == modeFramed {
		impl = wireLogger{impl, "grpc"}
	}
	flamev1.RegisterInstanceServer(srv, impl)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}

// wireLogger logs "<wire> <call>" before each call.
type wireLogger struct {
	flamev1.InstanceServer
	wire string
}

func (w wireLogger) OnSessionEnter(ctx context.Context, sc *flamev1.SessionContext) (*flamev1.Result, error) {
	logEvent("%s enter", w.wire)
	return w.InstanceServer.OnSessionEnter(ctx, sc)
}

func (w wireLogger) OnTaskInvoke(ctx context.Context, tc *flamev1.TaskContext) (*flamev1.TaskResult, error) {
	logEvent("%s task", w.wire)
	return w.InstanceServer.OnTaskInvoke(ctx, tc)
}

func (w wireLogger) OnSessionLeave(ctx context.Context, r *flamev1.EmptyRequest) (*flamev1.Result, error) {
	logEvent("%s leave", w.wire)
	return w.InstanceServer.OnSessionLeave(ctx, r)
}

// testInstance is the raw generated server of the instance program.
type testInstance struct {
	flamev1.UnimplementedInstanceServer
	mode string
}

func (s *testInstance) OnSessionEnter(_ context.Context, sc *flamev1.SessionContext) (*flamev1.Result, error) {
	logEvent("enter %s %s %s", sc.GetSessionId(), sc.GetApplication().GetName(), sc.GetCommonData())
	if s.mode == modeCrashEnter {
		fmt.Fprintln(os.Stderr, "enter: fatal error")
		os.Exit(4)
	}
	if s.mode == modeFailEnter {
		return &flamev1.Result{ReturnCode: -1, Message: proto.String("intentional session enter failure")}, nil
	}
	return &flamev1.Result{}, nil
}

// instanceReport is the output of the "env" task.
type instanceReport struct {
	Pid  int               `json:"pid"`
	Cwd  string            `json:"cwd"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

// OnTaskInvoke interprets the task input:
//
//	env          reply with an instanceReport
//	pid          reply with the process id
//	fail:<msg>   fail the task with msg
//	crash        write 30 lines to stderr and exit 3
//	anything     echoed back
func (s *testInstance) OnTaskInvoke(_ context.Context, tc *flamev1.TaskContext) (*flamev1.TaskResult, error) {
	in := string(tc.GetInput())
	logEvent("task %s %s", tc.GetTaskId(), in) // no-op without a log (benchmarks)
	switch {
	case in == "env":
		wd, _ := os.Getwd()
		r := instanceReport{Pid: os.Getpid(), Cwd: wd, Args: os.Args, Env: map[string]string{}}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			r.Env[k] = v
		}
		out, _ := json.Marshal(r)
		return &flamev1.TaskResult{Output: out}, nil
	case in == "pid":
		return &flamev1.TaskResult{Output: []byte(strconv.Itoa(os.Getpid()))}, nil
	case strings.HasPrefix(in, "fail:"):
		return &flamev1.TaskResult{ReturnCode: -1, Message: proto.String(strings.TrimPrefix(in, "fail:"))}, nil
	case in == "crash":
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(os.Stderr, "crash line %d\n", i)
		}
		os.Exit(3)
	}
	return &flamev1.TaskResult{Output: tc.GetInput()}, nil
}

func (s *testInstance) OnSessionLeave(context.Context, *flamev1.EmptyRequest) (*flamev1.Result, error) {
	logEvent("leave")
	return &flamev1.Result{}, nil
}
