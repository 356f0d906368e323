package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/flmctl/flmctl/pkg/service"
)

// Environment variables a served command finds besides the instance's own.
const (
	envSessionID      = "FLAME_SESSION_ID"
	envTaskID         = "FLAME_TASK_ID"
	envCommonDataFile = "FLAME_COMMON_DATA_FILE"
)

// The tail of a command's stderr that a failed task carries: enough to see
// the error, small enough for a task event.
const (
	tailLines = 20
	tailBytes = 4 << 10
)

// waitDelay bounds how long Wait waits for pipes a finished command left
// open (a background process holding them) and for a killed one to die.
const waitDelay = 2 * time.Second

// errTimedOut is the cause of a task context whose --timeout ran out.
var errTimedOut = errors.New("task timed out")

// commandConfig is what both modes of "flmctl serve -- COMMAND" share.
type commandConfig struct {
	argv    []string
	timeout time.Duration
	// stderr receives a copy of the command's stderr.
	stderr io.Writer
	// environ is the command's environment before the FLAME_* variables.
	environ []string
	tempDir string
}

// name is how messages name the command.
func (c *commandConfig) name() string { return c.argv[0] }

// newCmd returns the command with its process group set up and its stderr
// going to a fresh tail (returned) and to c.stderr.
func (c *commandConfig) newCmd(ctx context.Context, env ...string) (*exec.Cmd, *tailWriter) {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Cancel = func() error { return killProcessGroup(cmd.Process.Pid) }
	cmd.Env = append(append([]string(nil), c.environ...), env...)
	tail := &tailWriter{w: c.stderr}
	cmd.Stderr = tail
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)
	return cmd, tail
}

// lookPath fails early, at session enter, for a command that cannot run:
// the executor then reports a bind failure instead of failing every task.
func (c *commandConfig) lookPath() error {
	if _, err := exec.LookPath(c.argv[0]); err != nil {
		return fmt.Errorf("cannot run %s: %w; check the command after \"flmctl serve --\" and the instance's PATH", c.name(), err)
	}
	return nil
}

// writeCommonData writes the session's common data to a fresh file and
// returns its path.
func (c *commandConfig) writeCommonData(data []byte) (string, error) {
	dir := c.tempDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "flame-common-data-*")
	if err != nil {
		return "", fmt.Errorf("write the session's common data file: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write the session's common data file %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// sessionEnv is the per-session part of a command's environment.
type sessionEnv struct {
	id         string
	commonFile string
}

func (s sessionEnv) vars(taskID string) []string {
	var env []string
	if s.id != "" {
		env = append(env, envSessionID+"="+s.id)
	}
	if s.commonFile != "" {
		env = append(env, envCommonDataFile+"="+s.commonFile)
	}
	if taskID != "" {
		env = append(env, envTaskID+"="+taskID)
	}
	return env
}

// removeCommonData removes the session's common data file, if any.
func (s *sessionEnv) removeCommonData() error {
	if s.commonFile == "" {
		return nil
	}
	path := s.commonFile
	s.commonFile = ""
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the session's common data file: %w", err)
	}
	return nil
}

// exitError describes how a command ended, with the tail of its stderr.
func exitError(prefix string, st *os.ProcessState, waitErr error, tail string) error {
	var how string
	switch {
	case st == nil:
		how = fmt.Sprintf("failed: %v", waitErr)
	case st.ExitCode() >= 0:
		how = fmt.Sprintf("exited with status %d", st.ExitCode())
	default:
		how = "ended with " + st.String() // "signal: killed"
	}
	return withTail(prefix+" "+how, tail)
}

func withTail(msg, tail string) error {
	if tail == "" {
		return errors.New(msg + " (no stderr)")
	}
	return errors.New(msg + "; end of its stderr:\n" + tail)
}

// tailWriter copies writes to w and keeps the last tailBytes of them.
type tailWriter struct {
	w io.Writer

	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.w != nil {
		_, _ = t.w.Write(p) // a broken copy must not fail the command
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p) >= tailBytes {
		t.buf = append(t.buf[:0], p[len(p)-tailBytes:]...)
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the last tailLines lines kept, valid UTF-8, without the
// final newline.
func (t *tailWriter) String() string {
	t.mu.Lock()
	s := strings.TrimRight(string(t.buf), "\n")
	t.mu.Unlock()
	if lines := strings.Split(s, "\n"); len(lines) > tailLines {
		s = strings.Join(lines[len(lines)-tailLines:], "\n")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// lockedWriter serializes writes to w: the stderr copies of successive
// commands may overlap when one leaves a process behind.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// execService runs the command once per task.
type execService struct {
	cfg commandConfig

	// mu guards session. The server never overlaps calls, but close may
	// run while a call whose grace period ran out is still ending.
	mu      sync.Mutex
	session sessionEnv
}

func newExecService(cfg commandConfig) *execService {
	cfg.stderr = &lockedWriter{w: cfg.stderr}
	return &execService{cfg: cfg}
}

var _ service.Service = (*execService)(nil)

// OnSessionEnter checks that the command can run and writes the common
// data file.
func (s *execService) OnSessionEnter(_ context.Context, sc *service.SessionContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.lookPath(); err != nil {
		return err
	}
	if err := s.session.removeCommonData(); err != nil {
		return err
	}
	path, err := s.cfg.writeCommonData(sc.CommonData())
	if err != nil {
		return err
	}
	s.session = sessionEnv{id: sc.SessionID, commonFile: path}
	return nil
}

// OnTaskInvoke runs the command with the input on stdin and returns its
// stdout.
func (s *execService) OnTaskInvoke(ctx context.Context, tc *service.TaskContext) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	runCtx := ctx
	if s.cfg.timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, s.cfg.timeout, errTimedOut)
		defer cancel()
	}
	cmd, tail := s.cfg.newCmd(runCtx, s.session.vars(tc.TaskID)...)
	if tc.Input != nil {
		cmd.Stdin = bytes.NewReader(tc.Input)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.cfg.name(), err)
	}
	err := cmd.Wait()
	// Whatever the command left running in its group ends with the task.
	_ = killProcessGroup(cmd.Process.Pid)
	switch {
	case errors.Is(context.Cause(runCtx), errTimedOut):
		return nil, withTail(fmt.Sprintf("task timed out after %s; killed %s and its process group", s.cfg.timeout, s.cfg.name()), tail.String())
	case ctx.Err() != nil:
		return nil, fmt.Errorf("task cancelled; killed %s and its process group: %w", s.cfg.name(), context.Cause(ctx))
	case errors.Is(err, exec.ErrWaitDelay):
		return nil, withTail(fmt.Sprintf("%s exited but something it started kept its stdout or stderr open for %s; "+
			"redirect the output of background processes", s.cfg.name(), waitDelay), tail.String())
	case err != nil:
		return nil, exitError(s.cfg.name(), cmd.ProcessState, err, tail.String())
	}
	if stdout.Len() == 0 {
		return nil, nil // nothing written: no output
	}
	return stdout.Bytes(), nil
}

// OnSessionLeave removes the common data file.
func (s *execService) OnSessionLeave(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.session.removeCommonData()
	s.session = sessionEnv{}
	return err
}

// close removes what a session left behind when the server stops without
// a session leave.
func (s *execService) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.session.removeCommonData()
}
