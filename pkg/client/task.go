package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Task is a task as received from the server.
type Task struct {
	ID             string
	SessionID      string
	State          TaskState
	Input          []byte // nil if the task has none
	Output         []byte // nil until the task produced one
	CreationTime   time.Time
	CompletionTime time.Time // zero until the task is terminal
	// Events are the task's events, oldest first. Upstream servers send them
	// only with GetTask; ours send them with every task.
	Events []Event
	proto  *flamev1.Task
}

// Proto returns the task as received, for printers.
func (t *Task) Proto() *flamev1.Task { return t.proto }

func taskFromProto(p *flamev1.Task) *Task {
	return &Task{
		ID:             p.GetMetadata().GetId(),
		SessionID:      p.GetSpec().GetSessionId(),
		State:          TaskState(p.GetStatus().GetState()),
		Input:          p.GetSpec().GetInput(),
		Output:         p.GetSpec().GetOutput(),
		CreationTime:   fromMillis(p.GetStatus().GetCreationTime()),
		CompletionTime: fromMillis(p.GetStatus().GetCompletionTime()),
		Events:         eventsFromProto(p.GetStatus().GetEvents()),
		proto:          p,
	}
}

func (s *Session) taskOp(verb, id string) string {
	return fmt.Sprintf("%s task %s of session %s", verb, id, strconv.Quote(s.id))
}

// CreateTask adds a task with input to the session. A nil input sends none.
func (s *Session) CreateTask(ctx context.Context, input []byte) (*Task, error) {
	p, err := s.createTask(ctx, input)
	if err != nil {
		return nil, s.conn.wrap("create task in session "+strconv.Quote(s.id), err)
	}
	return taskFromProto(p), nil
}

func (s *Session) createTask(ctx context.Context, input []byte) (*flamev1.Task, error) {
	return s.conn.frontend.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: s.id, Input: input}})
}

// GetTask returns the task id of the session with its events; an unknown id is
// an error matching ErrNotFound.
func (s *Session) GetTask(ctx context.Context, id string) (*Task, error) {
	p, err := s.conn.frontend.GetTask(ctx, &flamev1.GetTaskRequest{SessionId: s.id, TaskId: id})
	if err != nil {
		return nil, s.conn.wrap(s.taskOp("get", id), err)
	}
	return taskFromProto(p), nil
}

// ListTasks iterates over the session's tasks as the server streams them. An
// error ends the iteration as its last pair; breaking out of the loop ends the
// stream.
func (s *Session) ListTasks(ctx context.Context) iter.Seq2[*Task, error] {
	return func(yield func(*Task, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		op := "list tasks of session " + strconv.Quote(s.id)
		stream, err := s.conn.frontend.ListTask(ctx, &flamev1.ListTaskRequest{SessionId: s.id})
		if err != nil {
			yield(nil, s.conn.wrap(op, err))
			return
		}
		for {
			p, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, s.conn.wrap(op, err))
				return
			}
			if !yield(taskFromProto(p), nil) {
				return
			}
		}
	}
}

// TaskWatcher follows one task through its state changes; see Session.WatchTask.
type TaskWatcher struct {
	session *Session
	taskID  string
	ctx     context.Context
	cancel  context.CancelFunc
	stream  grpc.ServerStreamingClient[flamev1.Task]
	last    *Task       // the last task returned by Next
	done    atomic.Bool // after a terminal state, an error or Close
}

// WatchTask watches the task id of the session. The watch ends when ctx ends or
// Close is called.
func (s *Session) WatchTask(ctx context.Context, id string) (*TaskWatcher, error) {
	return s.watchTask(ctx, id, false)
}

// watchTask is WatchTask; terminalOnly asks an flmctl server to send the
// terminal state alone (flamev1.WaitMetadataKey), for callers that only wait.
func (s *Session) watchTask(ctx context.Context, id string, terminalOnly bool) (*TaskWatcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	sctx := ctx
	if terminalOnly {
		sctx = metadata.AppendToOutgoingContext(ctx, flamev1.WaitMetadataKey, flamev1.WaitTerminal)
	}
	stream, err := s.conn.frontend.WatchTask(sctx, &flamev1.WatchTaskRequest{SessionId: s.id, TaskId: id})
	if err != nil {
		cancel()
		return nil, s.conn.wrap(s.taskOp("watch", id), err)
	}
	return &TaskWatcher{session: s, taskID: id, ctx: ctx, cancel: cancel, stream: stream}, nil
}

// Next blocks until the task changes state and returns it. After it has
// returned a terminal state (Succeed, Failed, Cancelled) it returns io.EOF. A
// watch that ends before a terminal state is an error (CodeInternal, or
// CodeNotFound if the task does not exist). Next is not safe for concurrent use.
func (w *TaskWatcher) Next() (*Task, error) {
	if w.done.Load() {
		return nil, io.EOF
	}
	p, err := w.stream.Recv()
	if err == nil {
		w.last = taskFromProto(p)
		if w.last.State.IsTerminal() {
			w.Close()
		}
		return w.last, nil
	}
	defer w.Close()
	op := w.session.taskOp("watch", w.taskID)
	if !errors.Is(err, io.EOF) {
		return nil, w.session.conn.wrap(op, err)
	}
	// Upstream ends the stream silently when the task does not exist, and a
	// server may drop a watch on shutdown: ask once for the task itself.
	t, err := w.session.GetTask(w.ctx, w.taskID)
	switch {
	case err == nil && t.State.IsTerminal():
		w.last = t
		return t, nil
	case errors.Is(err, ErrNotFound):
		return nil, err
	}
	state := "none"
	if w.last != nil {
		state = w.last.State.String()
	}
	return nil, errorf(CodeInternal, "%s: the stream ended early, before a terminal state (last state: %s)", op, state)
}

// Wait reads state changes until the terminal one and returns that task. Like
// Next, it is not safe for concurrent use.
func (w *TaskWatcher) Wait() (*Task, error) {
	for {
		if w.done.Load() && w.last != nil && w.last.State.IsTerminal() {
			return w.last, nil
		}
		if _, err := w.Next(); err != nil {
			return nil, err
		}
	}
}

// Close ends the watch; a Next blocked in another goroutine returns. It is safe
// to call more than once.
func (w *TaskWatcher) Close() {
	w.done.Store(true)
	w.cancel()
}

// Invoke creates a task with input, waits for it and returns its output. A task
// that fails or is cancelled gives a *TaskFailedError.
//
// Against an flmctl server the task is created and awaited in one call (see
// flamev1.WaitMetadataKey); against upstream Flame, Invoke watches the task
// it created, as flamepy does.
func (s *Session) Invoke(ctx context.Context, input []byte) ([]byte, error) {
	p, err := s.createTask(metadata.AppendToOutgoingContext(ctx, flamev1.WaitMetadataKey, flamev1.WaitTerminal), input)
	if err != nil {
		op := "create task in session " + strconv.Quote(s.id)
		if c := status.Code(err); c == codes.Canceled || c == codes.DeadlineExceeded {
			// The task may exist: the call ended while it was awaited.
			op = "invoke a task in session " + strconv.Quote(s.id)
		}
		return nil, s.conn.wrap(op, err)
	}
	t := taskFromProto(p)
	if !t.State.IsTerminal() {
		w, err := s.watchTask(ctx, t.ID, true)
		if err != nil {
			return nil, err
		}
		defer w.Close()
		if t, err = w.Wait(); err != nil {
			return nil, err
		}
	}
	return s.outcome(ctx, t)
}

// outcome returns the output of a terminal task, or its failure. Upstream sends
// events only with GetTask, so a failure without them is fetched once more
// for its message.
func (s *Session) outcome(ctx context.Context, t *Task) ([]byte, error) {
	switch t.State {
	case TaskSucceed:
		return t.Output, nil
	case TaskFailed:
		if len(t.Events) == 0 {
			if full, err := s.GetTask(ctx, t.ID); err == nil {
				t = full
			}
		}
	}
	return nil, newTaskFailedError(t)
}
