package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/flmctl/flmctl/pkg/service"
)

// maxFrame bounds a length-framed reply: a larger length is taken for a
// framing error rather than allocated.
const maxFrame = 1 << 30

// exitWait is how long a task whose stream broke waits for the command to
// exit by itself, so that the error reports its own status, before
// killing it; and how long a session leave waits after closing stdin.
const exitWait = 5 * time.Second

// errFraming marks a reply that breaks the framing protocol.
var errFraming = errors.New("framing error")

// streamService starts the command once per session and passes tasks
// through its stdin and stdout as framed records.
type streamService struct {
	cfg    commandConfig
	length bool

	// mu guards everything below. The server never overlaps calls, but
	// close may run while a call whose grace period ran out is ending.
	mu      sync.Mutex
	session sessionEnv
	entered bool
	// proc is nil outside a session and after the stream broke; the next
	// task then starts the command again. (The executor keeps sending a
	// session's tasks to an instance whose calls fail, and replaces only
	// one that exits; exiting would fail the task it launched meanwhile.)
	proc *streamProc
}

var _ service.Service = (*streamService)(nil)

func newStreamService(cfg commandConfig, length bool) *streamService {
	cfg.stderr = &lockedWriter{w: cfg.stderr}
	return &streamService{cfg: cfg, length: length}
}

// streamProc is a running stream command.
type streamProc struct {
	cmd    *exec.Cmd
	tail   *tailWriter
	stdin  *os.File // our write end
	stdout *os.File // our read end
	r      *bufio.Reader
	exited chan struct{}
	// waitErr is Wait's result, set before exited is closed.
	waitErr error
}

// OnSessionEnter writes the common data file and starts the command.
func (s *streamService) OnSessionEnter(_ context.Context, sc *service.SessionContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	path, err := s.cfg.writeCommonData(sc.CommonData())
	if err != nil {
		return err
	}
	s.session = sessionEnv{id: sc.SessionID, commonFile: path}
	p, err := s.start()
	if err != nil {
		_ = s.session.removeCommonData()
		return err
	}
	s.proc = p
	s.entered = true
	return nil
}

func (s *streamService) start() (*streamProc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.cfg.name(), err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, fmt.Errorf("start %s: %w", s.cfg.name(), err)
	}
	// The command's lifetime is the session's, not a call's: it is ended by
	// session leave, a broken stream or close.
	cmd, tail := s.cfg.newCmd(context.Background(), s.session.vars("")...)
	// *os.File ends are handed to the child as they are, so Wait never
	// touches the ends we read and write.
	cmd.Stdin = inR
	cmd.Stdout = outW
	err = cmd.Start()
	_ = inR.Close()
	_ = outW.Close()
	if err != nil {
		_ = inW.Close()
		_ = outR.Close()
		return nil, fmt.Errorf("cannot run %s: %w; check the command after \"flmctl serve --\" and the instance's PATH", s.cfg.name(), err)
	}
	p := &streamProc{cmd: cmd, tail: tail, stdin: inW, stdout: outR, r: bufio.NewReaderSize(outR, 64<<10), exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// OnTaskInvoke writes the input as one record and reads one record back.
func (s *streamService) OnTaskInvoke(ctx context.Context, tc *service.TaskContext) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.entered {
		return nil, errors.New("no session entered: the stream command starts at OnSessionEnter")
	}
	if !s.length && bytes.IndexByte(tc.Input, '\n') >= 0 {
		return nil, errors.New("task input contains a newline, which line framing cannot carry: " +
			"serve with --framing length, or encode the input on one line")
	}
	if s.proc == nil {
		p, err := s.start()
		if err != nil {
			return nil, fmt.Errorf("restart the stream command: %w", err)
		}
		s.proc = p
	}
	p := s.proc

	type reply struct {
		out []byte
		err error
	}
	done := make(chan reply, 1)
	go func() {
		out, err := p.exchange(tc.Input, s.length)
		done <- reply{out, err}
	}()
	var timeout <-chan time.Time
	if s.cfg.timeout > 0 {
		t := time.NewTimer(s.cfg.timeout)
		defer t.Stop()
		timeout = t.C
	}

	var err error
	select {
	case r := <-done:
		if r.err == nil {
			return r.out, nil
		}
		if errors.Is(r.err, errFraming) {
			p.kill()
			err = withTail(fmt.Sprintf("task %s: %v; killed %s", tc.TaskID, r.err, s.cfg.name()), p.tail.String())
			break
		}
		// The command closed its end: it is exiting, let it report how.
		select {
		case <-p.exited:
		case <-time.After(exitWait):
			p.kill()
		}
		err = exitError(fmt.Sprintf("stream command %s", s.cfg.name()), p.state(), p.waitErr, p.tail.String())
		err = fmt.Errorf("task %s: %w", tc.TaskID, err)
	case <-timeout:
		p.kill()
		<-done
		err = withTail(fmt.Sprintf("task %s timed out after %s; killed the stream command %s and its process group",
			tc.TaskID, s.cfg.timeout, s.cfg.name()), p.tail.String())
	case <-ctx.Done():
		p.kill()
		<-done
		err = fmt.Errorf("task %s cancelled; killed the stream command %s: %w", tc.TaskID, s.cfg.name(), context.Cause(ctx))
	}
	s.proc = nil
	p.release()
	return nil, err
}

// exchange writes one record and reads the reply. An error means the
// stream is unusable.
func (p *streamProc) exchange(input []byte, length bool) ([]byte, error) {
	var frame []byte
	if length {
		frame = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(input)), uint32(len(input)))
		frame = append(frame, input...)
	} else {
		frame = append(append(make([]byte, 0, len(input)+1), input...), '\n')
	}
	if _, err := p.stdin.Write(frame); err != nil {
		return nil, fmt.Errorf("write the task to the stream command: %w", err)
	}
	if !length {
		line, err := p.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("read the reply line: %w", err)
		}
		return line[:len(line)-1], nil
	}
	var hdr [4]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read the reply length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("%w: reply length %d exceeds %d bytes; write a 4-byte big-endian length before each reply", errFraming, n, maxFrame)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(p.r, out); err != nil {
		return nil, fmt.Errorf("read a reply of %d bytes: %w", n, err)
	}
	return out, nil
}

// kill kills the command's process group and closes our pipe ends, which
// ends any exchange in progress, then waits for the command.
func (p *streamProc) kill() {
	_ = killProcessGroup(p.cmd.Process.Pid)
	_ = p.stdin.Close()
	_ = p.stdout.Close()
	<-p.exited
}

// release closes our pipe ends and removes what is left of the group.
func (p *streamProc) release() {
	_ = p.stdin.Close()
	_ = p.stdout.Close()
	_ = killProcessGroup(p.cmd.Process.Pid)
}

// state is the command's exit state; exited must be closed.
func (p *streamProc) state() *os.ProcessState { return p.cmd.ProcessState }

// OnSessionLeave closes the command's stdin, waits for it to exit and
// removes the common data file. A non-zero exit is reported.
func (s *streamService) OnSessionLeave(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	s.entered = false
	if p := s.proc; p != nil {
		s.proc = nil
		_ = p.stdin.Close()
		t := time.NewTimer(exitWait)
		select {
		case <-p.exited:
			if p.waitErr != nil {
				err = exitError(fmt.Sprintf("stream command %s", s.cfg.name()), p.state(), p.waitErr, p.tail.String())
			}
		case <-t.C:
			p.kill()
			err = fmt.Errorf("stream command %s did not exit within %s of its stdin closing; killed it", s.cfg.name(), exitWait)
		case <-ctx.Done():
			p.kill()
		}
		t.Stop()
		p.release()
	}
	return errors.Join(err, s.session.removeCommonData())
}

// stopLocked kills a command still running from an earlier session.
// s.mu must be held.
func (s *streamService) stopLocked() {
	s.entered = false
	if s.proc != nil {
		s.proc.kill()
		s.proc.release()
		s.proc = nil
	}
	_ = s.session.removeCommonData()
}

// close kills the command and removes the common data file when the server
// stops without a session leave.
func (s *streamService) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}
