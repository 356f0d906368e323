package client

import (
	"context"
	"sync"

	"google.golang.org/grpc/status"
)

// Future is the result of Session.Run: the output of one task, some time later.
type Future struct {
	session *Session
	ctx     context.Context
	taskID  string
	// stopAfter unregisters the ctx callback; set before submit, read by the worker.
	stopAfter func() bool
	once      sync.Once
	done      chan struct{}
	output    []byte
	err       error
}

// Run creates a task with input and returns a Future for its output; a failed
// creation is returned through the Future. Run returns as soon as the task
// exists. Any number of futures may be pending: they share the connection's
// bounded set of watch streams (WithMaxWatchStreams) and queue for them, so
// they cost no goroutine while they wait. Cancelling ctx abandons the watch
// and resolves the future with ctx's error; the task itself keeps running.
func (s *Session) Run(ctx context.Context, input []byte) *Future {
	f := &Future{session: s, ctx: ctx, done: make(chan struct{})}
	t, err := s.CreateTask(ctx, input)
	if err != nil {
		f.resolve(nil, err)
		return f
	}
	f.taskID = t.ID
	// Resolves a queued future at once when ctx ends, without waiting for a worker.
	f.stopAfter = context.AfterFunc(ctx, func() {
		f.resolve(nil, s.conn.wrap(s.taskOp("watch", f.taskID), status.FromContextError(ctx.Err()).Err()))
	})
	s.conn.watches.submit(f)
	return f
}

// resolve settles f; only the first call counts.
func (f *Future) resolve(output []byte, err error) {
	f.once.Do(func() {
		f.output, f.err = output, err
		close(f.done)
	})
}

// watch follows the task to its end; it runs on a watch worker.
func (f *Future) watch() {
	defer f.stopAfter()
	select {
	case <-f.done: // cancelled while queued
		return
	default:
	}
	s := f.session
	w, err := s.watchTask(f.ctx, f.taskID, true)
	if err != nil {
		f.resolve(nil, err)
		return
	}
	defer w.Close()
	t, err := w.Wait()
	if err != nil {
		f.resolve(nil, err)
		return
	}
	f.resolve(s.outcome(f.ctx, t))
}

// TaskID returns the id of the task, or "" if it could not be created.
func (f *Future) TaskID() string { return f.taskID }

// Done is closed when the result is known.
func (f *Future) Done() <-chan struct{} { return f.done }

// Wait waits for the result, or for ctx to end (which abandons only this wait).
// A task that failed or was cancelled gives a *TaskFailedError.
func (f *Future) Wait(ctx context.Context) ([]byte, error) {
	select {
	case <-f.done:
		return f.output, f.err
	case <-ctx.Done():
		return nil, f.session.conn.wrap(f.session.taskOp("wait for", f.taskID), status.FromContextError(ctx.Err()).Err())
	}
}

// Result returns the result once Done is closed; before that it returns an
// error matching ErrInvalidState.
func (f *Future) Result() ([]byte, error) {
	select {
	case <-f.done:
		return f.output, f.err
	default:
		return nil, errorf(CodeInvalidState, "task %s of session %q has not finished; use Wait or Done first", f.taskID, f.session.id)
	}
}

// watchPool runs the watches of pending futures on at most limit goroutines,
// each with one WatchTask stream. Workers start on demand and exit when the
// queue is empty, so an idle connection holds none. Watching is observation
// only: tasks run on the server whether or not they are watched, so a full
// pool delays futures but never stalls the work.
type watchPool struct {
	limit int

	mu      sync.Mutex
	queue   []*Future // FIFO of futures waiting for a worker; guarded by mu
	workers int       // running workers; guarded by mu
}

func (p *watchPool) submit(f *Future) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, f)
	if p.workers < p.limit {
		p.workers++
		go p.work()
	}
}

func (p *watchPool) work() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.workers--
			p.mu.Unlock()
			return
		}
		f := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		f.watch()
	}
}
