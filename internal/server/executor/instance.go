package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/flmctl/flmctl/internal/instancewire"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// maxSocketPath is the longest Unix socket path the kernel accepts
// (sun_path holds 108 bytes including the terminating NUL on Linux).
const maxSocketPath = 107

// lostWait bounds how long an RPC failure that looks like a broken
// connection waits for the instance process to be reaped before the
// manager stops the process itself. A process that crashed closes its
// socket while it exits, so it is reaped within milliseconds.
const lostWait = time.Second

// stderrTail bounds the part of an instance's stderr quoted in messages.
const (
	stderrTailBytes = 4 << 10
	stderrTailLines = 20
)

// instance is one instance process of one binding and the gRPC connection
// to it. Fields are set by startInstance and read-only afterwards, except
// waitErr (written once by the reaper before exited is closed) and the
// fields marked "loop only" (touched by the executor's goroutine only).
type instance struct {
	m      *Manager
	execID string
	pid    int
	// ctx is cancelled (cause errInstanceExited) once the process has been
	// reaped, and when the executor stops. Calls to the instance and the
	// executor's LaunchTask use it, so they end when the process dies.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// exited is closed after the process has been reaped and waitErr set.
	exited  chan struct{}
	waitErr error

	// conn is the connection behind client: gRPC, or the framed wire
	// (internal/instancewire) when the instance serves it.
	conn   io.Closer
	client flamev1.InstanceClient

	sock       string // socket path, removed on cleanup
	framedSock string // the framed wire's socket offered to it ("" none), removed on cleanup
	errPath    string // stderr file, read for the tail
	appDir     string // <top>/work/<app>, removed on cleanup
	autoTop    string // top dir created by the manager, removed on cleanup; "" for a user dir
	// sharedDir: appDir is in a user's working directory and counted in
	// m.dirRefs.
	sharedDir bool

	stopped bool // loop only: stop has run
	cleaned bool // loop only: cleanup has run
}

// errInstanceExited is the cancel cause of an instance's context after its
// process was reaped.
var errInstanceExited = errors.New("instance process exited")

// dead reports whether the process has been reaped.
func (in *instance) dead() bool {
	select {
	case <-in.exited:
		return true
	default:
		return false
	}
}

// lost decides whether the RPC error err means the instance is gone: its
// process has exited, or the connection to it broke (Unavailable), or the
// call was cancelled because the process exited. For a broken connection
// it waits up to lostWait for the process to be reaped, so that a crash is
// reported with its own exit status rather than the manager's SIGTERM.
// Other errors are answers from a live instance.
func (in *instance) lost(err error) bool {
	if in.dead() {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
	default:
		return false
	}
	t := time.NewTimer(lostWait)
	defer t.Stop()
	select {
	case <-in.exited:
	case <-in.ctx.Done(): // exited, or the executor is stopping
	case <-t.C:
	}
	return true
}

// exitError describes the ended process; stop must have run. rpcErr is the
// failure that revealed the loss, used as the reason when the manager had
// to stop a process that was still running.
func (in *instance) exitError(during string, stoppedByUs bool, rpcErr error) *InstanceExitError {
	e := &InstanceExitError{
		ExecutorID: in.execID,
		PID:        in.pid,
		Status:     exitStatus(in.waitErr),
		During:     during,
		Stderr:     readTail(in.errPath),
	}
	if stoppedByUs {
		e.Reason = "connection lost"
		if rpcErr != nil {
			e.Reason = rpcMessage(rpcErr)
		}
	}
	return e
}

// exitStatus formats the error of exec.Cmd.Wait.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// rpcMessage is the text of an RPC error without grpc-go's "rpc error:
// code = X desc =" decoration, but with the code name.
func rpcMessage(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Code().String() + ": " + s.Message()
	}
	return err.Error()
}

// readTail returns the last lines of a log file: at most stderrTailLines
// lines and stderrTailBytes bytes, trailing blank space trimmed, invalid
// UTF-8 replaced (proto strings must be valid UTF-8).
func readTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-stderrTailBytes, 0)
	buf := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(buf, off)
	buf = bytes.TrimRight(buf[:n], " \t\r\n")
	if off > 0 {
		// Drop the partial first line.
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	for lines, i := 0, len(buf); i > 0; {
		j := bytes.LastIndexByte(buf[:i], '\n')
		if lines++; lines == stderrTailLines && j >= 0 {
			buf = buf[j+1:]
			break
		}
		i = j
	}
	if !utf8.Valid(buf) {
		return strings.ToValidUTF8(string(buf), "\uFFFD")
	}
	return string(buf)
}

// startInstance prepares the working directory, starts the instance
// process of app for one binding and connects to it (spec §8.1–8.3). It
// returns an error for bind code 11; on error nothing is left behind (the
// process, if started, is stopped and reaped, the directories removed).
func (e *executor) startInstance(app *flamev1.Application, appEnv *envSet, vars *installVars) (*instance, error) {
	m := e.m
	name := appName(app)
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return nil, fmt.Errorf("application name %q cannot be used as a directory name", name)
	}
	sock := filepath.Join(m.socketDir, e.id+".sock")
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, more than the %d a Unix socket allows; use a shorter socket directory (FLAME_SOCKET_DIR)",
			sock, len(sock), maxSocketPath)
	}

	in := &instance{m: m, execID: e.id, sock: sock}
	if fsock := filepath.Join(m.socketDir, e.id+".fsock"); !m.opts.GRPCOnly && len(fsock) <= maxSocketPath {
		in.framedSock = fsock
	}
	top := app.GetSpec().GetWorkingDirectory()
	if top == "" {
		top = filepath.Join(m.workDir, e.id)
		in.autoTop = top
	} else if !filepath.IsAbs(top) {
		top = filepath.Join(m.workDir, top)
	}
	in.appDir = filepath.Join(top, "work", name)
	tmp := filepath.Join(in.appDir, "tmp")
	if err := in.makeDirs(tmp); err != nil {
		in.cleanup()
		return nil, fmt.Errorf("create working directory: %w", err)
	}
	outF, err := os.OpenFile(filepath.Join(top, e.id+".out"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		in.cleanup()
		return nil, fmt.Errorf("create stdout file: %w", err)
	}
	in.errPath = filepath.Join(top, e.id+".err")
	errF, err := os.OpenFile(in.errPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		_ = outF.Close()
		in.cleanup()
		return nil, fmt.Errorf("create stderr file: %w", err)
	}

	env := m.instanceEnv(appEnv, vars, sock, in.framedSock, tmp)
	lookup := func(k string) (string, bool) {
		if v, ok := env.get(k); ok {
			return v, true
		}
		return m.env.get(k)
	}
	command := expand(app.GetSpec().GetCommand(), lookup)
	args := make([]string, 1, 1+len(app.GetSpec().GetArguments()))
	args[0] = command
	for _, a := range app.GetSpec().GetArguments() {
		args = append(args, expand(a, lookup))
	}
	path, err := resolveCommand(command, lookup)
	if err != nil {
		_ = outF.Close()
		_ = errF.Close()
		in.cleanup()
		return nil, err
	}
	for _, p := range []string{sock, in.framedSock} {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = outF.Close()
			_ = errF.Close()
			in.cleanup()
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}

	cmd := &exec.Cmd{
		Path:        path,
		Args:        args,
		Env:         merged(m.env, env),
		Dir:         top,
		Stdout:      outF,
		Stderr:      errF,
		SysProcAttr: sysProcAttr(),
	}
	err = cmd.Start()
	// The child holds its own descriptors now.
	_ = outF.Close()
	_ = errF.Close()
	if err != nil {
		in.cleanup()
		return nil, fmt.Errorf("start %s: %w", command, err)
	}
	in.pid = cmd.Process.Pid
	in.ctx, in.cancel = context.WithCancelCause(e.ctx)
	in.exited = make(chan struct{})
	// The reaper. The executor goroutine holds a count on m.wg, so adding
	// one here cannot race with Stop's Wait; it ends when the process is
	// reaped, which stop guarantees.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		in.waitErr = cmd.Wait()
		close(in.exited)
		in.cancel(errInstanceExited)
	}()

	fail := func(format string, args ...any) (*instance, error) {
		in.stop(m.stopGrace)
		err := fmt.Errorf(format, args...)
		in.cleanup()
		return nil, err
	}
	deadline := time.Now().Add(m.socketWait)
	if err := in.waitSocket(deadline, m.socketWait); err != nil {
		if in.dead() {
			return fail("%w", in.exitError("waiting for it to create its socket "+sock, false, nil))
		}
		return fail("%w", err)
	}
	if in.connectFramed(deadline) {
		return in, nil
	}
	if err := in.connect(deadline); err != nil {
		if in.dead() {
			return fail("%w", in.exitError("connecting to its socket "+sock, false, nil))
		}
		return fail("%w", err)
	}
	return in, nil
}

// resolveCommand finds the program to run: a name without a slash is
// looked up in the instance's PATH (so installer PATH entries count), a
// path with a slash is used as is (relative to the working directory).
func resolveCommand(command string, lookup func(string) (string, bool)) (string, error) {
	if command == "" {
		return "", errors.New("the application has no command; register it with a command to run")
	}
	if strings.Contains(command, "/") {
		return command, nil
	}
	pathVar, _ := lookup("PATH")
	for dir := range strings.SplitSeq(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, command)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q", command, pathVar)
}

// waitSocket waits until the socket file exists, the process exits
// (errInstanceExited), the deadline passes or the executor stops. It polls
// the file: once per binding, and cheaper than a file watch. Every 250 µs
// at most for the first 20 ms, when a Go instance creates its socket (3-6
// ms after the start here), then at most every millisecond. (A back-off to
// 10 ms found such an instance only at 12.7 ms; polling every millisecond
// found it 0.5 ms late on average.)
func (in *instance) waitSocket(deadline time.Time, total time.Duration) error {
	start := time.Now()
	delay := 100 * time.Microsecond
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if fi, err := os.Stat(in.sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("instance process (pid %d) did not create its socket %s within %s", in.pid, in.sock, total)
		}
		t.Reset(min(delay, left))
		select {
		case <-in.exited:
			return errInstanceExited
		case <-in.ctx.Done():
			return in.ctx.Err()
		case <-t.C:
		}
		most := 250 * time.Microsecond
		if time.Since(start) > 20*time.Millisecond {
			most = time.Millisecond
		}
		delay = min(delay*2, most)
	}
}

// instanceDialOptions are the options of the connection to an instance:
// plaintext over the Unix socket, no message size limit (upstream has
// none), a fast reconnect (the socket file exists before the instance
// listens on it), and fixed 4 MiB flow-control windows, which turn off
// grpc-go's bandwidth probing pings: on a local socket they only cost CPU
// per call.
func instanceDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithInitialWindowSize(4 << 20),
		grpc.WithInitialConnWindowSize(4 << 20),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
}

// connectFramed connects over the framed wire when the instance serves it:
// its socket exists by the time the gRPC one does (pkg/service listens on
// it first). Any failure leaves gRPC to be used.
func (in *instance) connectFramed(deadline time.Time) bool {
	if in.framedSock == "" {
		return false
	}
	if fi, err := os.Stat(in.framedSock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	ctx, cancel := context.WithDeadline(in.ctx, deadline)
	defer cancel()
	c, err := instancewire.Dial(ctx, in.framedSock)
	if err != nil {
		in.m.log.Warn("calling the instance over gRPC: its framed socket did not answer", "pid", in.pid, "socket", in.framedSock, "err", err)
		return false
	}
	in.conn, in.client = c, c
	return true
}

// connect opens the gRPC connection over the socket and waits, until the
// deadline, for it to be ready; calls are then made without waiting for
// readiness, so a broken connection fails them at once.
func (in *instance) connect(deadline time.Time) error {
	conn, err := grpc.NewClient("unix://"+in.sock, instanceDialOptions()...)
	if err != nil {
		return fmt.Errorf("connect to instance socket %s: %w", in.sock, err)
	}
	in.conn = conn
	in.client = flamev1.NewInstanceClient(conn)
	ctx, cancel := context.WithDeadline(in.ctx, deadline)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("instance process (pid %d) did not accept a connection on %s in time (state %s)", in.pid, in.sock, s)
		}
	}
}

// stop ends the process group: SIGTERM, SIGKILL after grace if the process
// is still there, then waits until it is reaped. A last SIGKILL to the
// group removes any process the instance left behind. It closes the
// connection first. Safe to call again.
func (in *instance) stop(grace time.Duration) {
	if in.stopped {
		return
	}
	in.stopped = true
	if in.conn != nil {
		_ = in.conn.Close()
	}
	if !in.dead() {
		_ = syscall.Kill(-in.pid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-in.exited:
		case <-t.C:
			_ = syscall.Kill(-in.pid, syscall.SIGKILL)
			<-in.exited
		}
		t.Stop()
	}
	_ = syscall.Kill(-in.pid, syscall.SIGKILL)
}

// cleanup removes the socket and the per-binding directories (spec §8.1):
// work/<app> always, the top dir when the manager created it. Safe to call
// again.
func (in *instance) cleanup() {
	if in.cleaned {
		return
	}
	in.cleaned = true
	// A failure is harmless: the next binding removes stale sockets first.
	_ = os.Remove(in.sock)
	if in.framedSock != "" {
		_ = os.Remove(in.framedSock)
	}
	switch {
	case in.autoTop != "":
		_ = os.RemoveAll(in.autoTop)
	case in.appDir != "" && in.sharedDir:
		m := in.m
		m.dirMu.Lock()
		defer m.dirMu.Unlock()
		if m.dirRefs[in.appDir]--; m.dirRefs[in.appDir] <= 0 {
			delete(m.dirRefs, in.appDir)
			_ = os.RemoveAll(in.appDir)
		}
	}
}

// makeDirs creates the binding's directories down to tmp. In a user's
// working directory work/<app> is shared by every executor of the
// application on this node, so it is reference-counted and removed when
// the last binding using it ends.
func (in *instance) makeDirs(tmp string) error {
	if in.autoTop != "" {
		return os.MkdirAll(tmp, 0o755)
	}
	m := in.m
	m.dirMu.Lock()
	defer m.dirMu.Unlock()
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	m.dirRefs[in.appDir]++
	in.sharedDir = true
	return nil
}
