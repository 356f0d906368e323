package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/flmctl/flmctl/internal/instancewire"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// EndpointEnv names the environment variable through which the executor
// manager tells an instance where to serve: a Unix socket path.
const EndpointEnv = "FLAME_INSTANCE_ENDPOINT"

// DefaultGracePeriod is how long a shutdown waits for the call in progress.
// The executor manager sends SIGTERM once and never escalates to SIGKILL, so
// the wait must be bounded or a stuck task would keep the process alive.
const DefaultGracePeriod = 5 * time.Second

// ErrNoEndpoint is returned by Run and RunContext when FLAME_INSTANCE_ENDPOINT
// is unset or empty and no listener was given.
var ErrNoEndpoint = errors.New(EndpointEnv + " is not set")

// ErrGracePeriodExpired is returned by Run and RunContext when a call was
// still running when the shutdown grace period ran out. The call's context
// is cancelled; the server waits a second more for it to return, then
// stops without it.
var ErrGracePeriodExpired = errors.New("shutdown grace period expired with a call in progress")

// maxUnixSocketPath is the longest socket path Linux accepts (sun_path is 108
// bytes including the terminating NUL). Checking it ourselves turns the
// kernel's bare "invalid argument" into an error that says what is wrong.
const maxUnixSocketPath = 107

// Option configures RunContext.
type Option func(*runConfig)

type runConfig struct {
	listener    net.Listener
	logger      *slog.Logger
	grace       time.Duration
	taskTimeout time.Duration
	// framed is the framed wire's listener, set by RunContext when the
	// executor manager offers it.
	framed net.Listener
}

// WithListener serves on l instead of the socket named by
// FLAME_INSTANCE_ENDPOINT, which is then not read. RunContext closes l when
// it returns. Meant for tests and for embedding the service in a process
// that manages its own sockets.
func WithListener(l net.Listener) Option { return func(c *runConfig) { c.listener = l } }

// WithLogger sets the logger for serving events and handler panics. The
// default is slog.Default(). Task inputs and outputs are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *runConfig) { c.logger = l } }

// WithGracePeriod sets how long a shutdown waits for the call in progress
// (DefaultGracePeriod unless set). Zero or less means not at all.
func WithGracePeriod(d time.Duration) Option { return func(c *runConfig) { c.grace = d } }

// WithTaskTimeout limits each OnTaskInvoke to d: its context is cancelled
// at the deadline and the task fails with "task timed out after d". A
// handler that does not return within a second of that cannot be stopped
// (Go has no way to kill a goroutine), so the task fails at once and the
// instance shuts down, Run returning ErrTaskAbandoned: the executor starts
// a fresh instance for the next task. Zero or less means no limit.
func WithTaskTimeout(d time.Duration) Option { return func(c *runConfig) { c.taskTimeout = d } }

// ErrTaskAbandoned is returned by Run and RunContext when a task overran
// its WithTaskTimeout and its handler did not return.
var ErrTaskAbandoned = errors.New("a task overran its timeout and its handler did not return; the instance stopped so that a fresh one takes the next task")

// Run serves svc as a Flame application instance on the Unix socket named
// by FLAME_INSTANCE_ENDPOINT until the process receives SIGTERM or SIGINT.
// It is what a service's main function calls:
//
//	func main() {
//		if err := service.Run(myService{}); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// On the signal Run stops accepting calls, lets the call in progress finish
// within the grace period (DefaultGracePeriod unless WithGracePeriod says
// otherwise), calls nothing else on svc (in particular not OnSessionLeave),
// removes the socket and returns nil; ErrGracePeriodExpired if the call did
// not finish in time. After the first signal the default signal behaviour
// is restored, so a second one kills the process. opts are RunContext's.
func Run(svc Service, opts ...Option) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return RunContext(ctx, svc, opts...)
}

// RunContext is Run without signal handling: it serves until ctx is done,
// then shuts down as Run does. It returns nil after a clean shutdown.
func RunContext(ctx context.Context, svc Service, opts ...Option) error {
	cfg := runConfig{logger: slog.Default(), grace: DefaultGracePeriod}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if svc == nil {
		if cfg.listener != nil {
			_ = cfg.listener.Close()
		}
		return errors.New("service is nil: pass a Service implementation to Run")
	}

	lis := cfg.listener
	var sockets []string
	defer func() {
		for _, s := range sockets {
			removeSocket(s)
		}
	}()
	if lis == nil {
		path, err := endpointFromEnv()
		if err != nil {
			return err
		}
		// The framed socket, when offered, must exist before the gRPC one:
		// the executor manager looks for it once the gRPC socket appears.
		cfg.framed = listenFramed(cfg.logger)
		if cfg.framed != nil {
			sockets = append(sockets, cfg.framed.Addr().String())
		}
		lis, err = listenUnix(path, EndpointEnv)
		if err != nil {
			if cfg.framed != nil {
				_ = cfg.framed.Close()
			}
			return err
		}
		sockets = append(sockets, path)
	}
	return serve(ctx, lis, svc, cfg)
}

// listenFramed listens on the framed wire's socket when the executor
// manager offers it (internal/instancewire). The offer is an optimisation:
// when the socket cannot be had the instance serves gRPC alone, and the
// manager calls it that way.
func listenFramed(log *slog.Logger) net.Listener {
	path := strings.TrimSpace(os.Getenv(instancewire.EndpointEnv))
	if path == "" {
		return nil
	}
	lis, err := listenUnix(path, instancewire.EndpointEnv)
	if err != nil {
		log.Warn("not serving the framed instance wire; serving gRPC alone", "error", err)
		return nil
	}
	return lis
}

// stopper is what serve needs of the gRPC server and the framed one.
type stopper interface {
	GracefulStop()
	Stop()
}

func serve(ctx context.Context, lis net.Listener, svc Service, cfg runConfig) error {
	// Upstream places no limit on task inputs, outputs or common data. The
	// fixed 4 MiB flow-control windows (as on the executor's side) turn off
	// grpc-go's bandwidth probing pings: on the local socket they only cost
	// a frame each way per call.
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.InitialWindowSize(4<<20), grpc.InitialConnWindowSize(4<<20),
	)
	is := newInstanceServer(svc, cfg.logger)
	is.timeout = cfg.taskTimeout
	abandoned := make(chan struct{})
	is.abandon = sync.OnceFunc(func() { close(abandoned) })
	flamev1.RegisterInstanceServer(srv, is)
	servers := []stopper{srv}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	framedDone := make(chan struct{})
	logAttrs := []any{"address", lis.Addr().String()}
	if cfg.framed != nil {
		fs := instancewire.NewServer(is)
		servers = append(servers, fs)
		go func() {
			defer close(framedDone)
			// The framed wire is an optimisation: if its listener fails,
			// the connection made on it carries on and gRPC serves the rest.
			if err := fs.Serve(cfg.framed); err != nil {
				cfg.logger.Warn("the framed instance wire stopped accepting connections; serving gRPC alone", "error", err)
			}
		}()
		logAttrs = append(logAttrs, "framed", cfg.framed.Addr().String())
	} else {
		close(framedDone)
	}
	cfg.logger.Info("serving flame.v1.Instance", logAttrs...)
	stopAll := func(stop func(stopper)) {
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Go(func() { stop(s) })
		}
		wg.Wait()
	}

	select {
	case err := <-serveErr:
		// Serve only returns early when the listener fails.
		stopAll(stopper.Stop)
		<-framedDone
		return fmt.Errorf("serve flame.v1.Instance on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	case <-abandoned:
		cfg.logger.Error("stopping: " + ErrTaskAbandoned.Error())
	}

	cfg.logger.Info("shutting down", "grace_period", cfg.grace.String())
	stopped := make(chan struct{})
	go func() {
		stopAll(stopper.GracefulStop)
		close(stopped)
	}()
	var err error
	timer := time.NewTimer(max(cfg.grace, 0))
	select {
	case <-stopped:
		<-serveErr // nil after GracefulStop
	case <-timer.C:
		err = fmt.Errorf("stop after %s: %w", cfg.grace, ErrGracePeriodExpired)
		cfg.logger.Warn("grace period expired; cancelling the call in progress", "grace_period", cfg.grace.String())
		stopAll(stopper.Stop)
		// grpc.Server's GracefulStop (and then its Serve) still waits for
		// the handler, which may ignore its cancelled context: give it
		// abandonAfter, then return without it (the process is about to
		// exit).
		t := time.NewTimer(abandonAfter)
		select {
		case <-stopped:
			<-serveErr
		case <-t.C:
			cfg.logger.Error("the call in progress ignored its cancellation; stopping without it")
		}
		t.Stop()
	}
	timer.Stop()
	<-framedDone
	select {
	case <-abandoned:
		return ErrTaskAbandoned
	default:
	}
	return err
}

// endpointFromEnv reads FLAME_INSTANCE_ENDPOINT, accepting a plain path or a
// unix:// (or unix:) URL.
func endpointFromEnv() (string, error) {
	v := strings.TrimSpace(os.Getenv(EndpointEnv))
	if v == "" {
		return "", fmt.Errorf("%w: it names the Unix socket on which the executor manager calls this "+
			"instance, and Flame sets it when it starts the program for an application. Register the "+
			"program as an application's command (a local cluster from `flmctl cluster start` will do) "+
			"and create a session, or, to try it by hand, set %s=/tmp/svc.sock and call "+
			"flame.v1.Instance on that socket", ErrNoEndpoint, EndpointEnv)
	}
	path := v
	if rest, ok := strings.CutPrefix(v, "unix://"); ok {
		path = rest
	} else if rest, ok := strings.CutPrefix(v, "unix:"); ok {
		path = rest
	}
	if path == "" {
		return "", fmt.Errorf("%s=%q names no socket path: set it to a file path such as /tmp/svc.sock", EndpointEnv, v)
	}
	return path, nil
}

// listenUnix listens on path, named by the variable env, first removing a
// stale socket left there by an earlier instance. It refuses to remove
// anything that is not a socket, and a socket that another process still
// serves.
func listenUnix(path, env string) (net.Listener, error) {
	if len(path) > maxUnixSocketPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, more than the %d a Unix socket allows: "+
			"set %s to a shorter path", path, len(path), maxUnixSocketPath, env)
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket (mode %s): refusing to remove it; "+
				"remove it yourself or set %s to another path", path, fi.Mode(), env)
		}
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = conn.Close()
			return nil, fmt.Errorf("socket %s is in use by another process: stop that process or set %s to another path",
				path, env)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("check socket path %s: %w", path, err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on Unix socket %s: %w", path, err)
	}
	return lis, nil
}

// removeSocket deletes the socket file if it is still there. Closing a
// net.UnixListener normally unlinks it already; this covers the rest.
func removeSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		_ = os.Remove(path)
	}
}
