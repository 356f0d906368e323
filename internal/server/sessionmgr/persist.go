package sessionmgr

import (
	"context"
	"sync"

	"github.com/flmctl/flmctl/internal/server/store"
)

// persister writes the manager's changes to the store in the order they were
// made, many changes per store commit. Without a store (nothing is kept) it
// completes every change at once.
//
// Changes are enqueued while the manager's lock is held, so the queue order
// is the order of the in-memory changes (a task's creation always precedes
// its completion). A single goroutine takes everything queued so far and
// commits it as one group; callers that must not answer before their change
// is durable wait on the returned batch, others only attach an action to run
// after the commit (for example waking the watchers of a finished task).
type persister struct {
	st store.Store // nil: nothing is persisted
	// locker is held while after actions run (the manager's lock).
	locker sync.Locker

	mu sync.Mutex // guards the fields below
	// cur collects the changes enqueued since the last group was taken.
	cur    *batch
	closed bool
	kick   chan struct{} // capacity 1: "cur is not empty"
	done   chan struct{} // closed when run returns
}

// batch is one group commit.
type batch struct {
	muts  []store.Mutation
	after []func()
	err   error
	done  chan struct{} // closed after the commit and the after actions
}

func newPersister(st store.Store, locker sync.Locker) *persister {
	return &persister{st: st, locker: locker, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// enqueue adds muts to the next group and, if after is not nil, runs it once
// that group is durable, holding the locker. It never blocks on I/O. The
// caller holds the locker: without a store, after runs right here.
func (p *persister) enqueue(after func(), muts ...store.Mutation) *batch {
	if p.st == nil {
		if after != nil {
			after()
		}
		return doneBatch
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		// Shutting down: nothing more is written; waiters learn why.
		return closedBatch
	}
	if p.cur == nil {
		p.cur = &batch{done: make(chan struct{})}
	}
	b := p.cur
	b.muts = append(b.muts, muts...)
	if after != nil {
		b.after = append(b.after, after)
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return b
}

var doneBatch = func() *batch {
	b := &batch{done: make(chan struct{})}
	close(b.done)
	return b
}()

var closedBatch = func() *batch {
	b := &batch{err: store.ErrClosed, done: make(chan struct{})}
	close(b.done)
	return b
}()

// wait blocks until b is durable (or failed) or ctx ends.
func (b *batch) wait(ctx context.Context) error {
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run commits groups until stop; it drains what was enqueued before stop.
func (p *persister) run(stop <-chan struct{}) {
	defer close(p.done)
	if p.st == nil {
		<-stop
		return
	}
	for {
		select {
		case <-p.kick:
		case <-stop:
			p.mu.Lock()
			p.closed = true
			b := p.cur
			p.cur = nil
			p.mu.Unlock()
			if b != nil {
				p.commit(b)
			}
			return
		}
		p.mu.Lock()
		b := p.cur
		p.cur = nil
		p.mu.Unlock()
		if b != nil {
			p.commit(b)
		}
	}
}

func (p *persister) commit(b *batch) {
	if len(b.muts) > 0 {
		b.err = p.st.Commit(context.Background(), b.muts...)
	}
	// The in-memory change was made either way; whoever waits to observe it
	// is told, and a caller waiting for durability gets the error.
	if len(b.after) > 0 {
		p.locker.Lock()
		for _, f := range b.after {
			f()
		}
		p.locker.Unlock()
	}
	close(b.done)
}
