package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Store persists the session manager's applications, sessions and tasks.
//
// Implementations are safe for concurrent use. See the package documentation
// for the durability, atomicity and ordering contract.
type Store interface {
	// Load returns everything persisted, as fresh messages the caller owns.
	// It is meant to be called once, at start-up, before the first Commit.
	Load(ctx context.Context) (*State, error)

	// Enqueue validates muts, fixes their place in the commit order and
	// returns at once; the returned Pending reports when they are durable.
	// Everything Enqueue needs from the messages is copied before it returns,
	// so the caller may change them right away. Call it while holding the
	// lock that protects the in-memory state the mutations describe, then
	// release the lock and Wait: the persisted order then matches the
	// in-memory order without serialising on the disk.
	Enqueue(muts ...Mutation) *Pending

	// Commit is Enqueue followed by Wait: it returns once muts are durable
	// (nil), or were not applied at all (validation error, ErrClosed, or
	// ctx's error while they were still queued).
	Commit(ctx context.Context, muts ...Mutation) error

	// Close stops accepting mutations (Commit then returns ErrClosed),
	// commits what is already queued, and releases the store's resources.
	// It is idempotent.
	Close() error
}

// State is everything a Store holds. Applications are ordered by name,
// sessions by ID, and tasks by session ID, then by numeric task ID.
type State struct {
	// Applications are the registered applications.
	Applications []*flamev1.Application
	// Sessions are all stored sessions, open and closed.
	Sessions []*flamev1.Session
	// Tasks are the tasks of every session, with their inputs and outputs.
	Tasks []*flamev1.Task
}

// ErrClosed is returned by every call on a Store after Close.
var ErrClosed = errors.New("store is closed")

// ErrInvalidMutation is wrapped by the error Enqueue and Commit return when a
// mutation lacks the keys the store needs. Nothing of that call is applied.
var ErrInvalidMutation = errors.New("invalid store mutation")

// MaxTaskID is the largest task ID a Store accepts. Task IDs are the decimal
// strings the session manager assigns (1, 2, 3, ... per session).
const MaxTaskID = 1<<32 - 1

type mutationKind uint8

const (
	kindPutApplication mutationKind = iota + 1
	kindDeleteApplication
	kindPutSession
	kindDeleteSession
	kindCreateTask
	kindUpdateTask
)

func (k mutationKind) String() string {
	switch k {
	case kindPutApplication:
		return "PutApplication"
	case kindDeleteApplication:
		return "DeleteApplication"
	case kindPutSession:
		return "PutSession"
	case kindDeleteSession:
		return "DeleteSession"
	case kindCreateTask:
		return "CreateTask"
	case kindUpdateTask:
		return "UpdateTask"
	}
	return "Mutation(zero)"
}

// Mutation is one change to a Store. Build it with PutApplication,
// DeleteApplication, PutSession, DeleteSession, CreateTask or UpdateTask; the
// zero Mutation is invalid. A Mutation only points at the message it was
// built from: the store reads (copies) the message in Enqueue or Commit and
// never keeps or modifies it.
type Mutation struct {
	kind    mutationKind
	id      string // DeleteApplication: name; DeleteSession: session ID
	app     *flamev1.Application
	session *flamev1.Session
	task    *flamev1.Task
}

// PutApplication stores app, replacing any application of the same name. The
// key is app.Metadata.Name.
func PutApplication(app *flamev1.Application) Mutation {
	return Mutation{kind: kindPutApplication, app: app}
}

// DeleteApplication removes the application called name together with every
// session whose Spec.Application is name and all of those sessions' tasks.
// Deleting something that is not stored is not an error.
func DeleteApplication(name string) Mutation {
	return Mutation{kind: kindDeleteApplication, id: name}
}

// PutSession stores ssn (status, counters and events included), replacing
// any session with the same ID. The key is ssn.Metadata.Id; the application
// it belongs to, for DeleteApplication, is ssn.Spec.Application.
func PutSession(ssn *flamev1.Session) Mutation {
	return Mutation{kind: kindPutSession, session: ssn}
}

// DeleteSession removes the session with the given ID and all of its tasks.
// Deleting something that is not stored is not an error.
func DeleteSession(id string) Mutation {
	return Mutation{kind: kindDeleteSession, id: id}
}

// CreateTask stores the whole task, input included, replacing any task with
// the same key. The key is (task.Spec.SessionId, task.Metadata.Id), where the
// ID is a canonical decimal number no larger than MaxTaskID. The store does
// not check that the session exists: a task of an unknown session is kept
// (Load returns it) until DeleteSession of that ID.
func CreateTask(task *flamev1.Task) Mutation {
	return Mutation{kind: kindCreateTask, task: task}
}

// UpdateTask replaces everything stored for the task except its input:
// metadata, Spec.Output and Status (state, times, events). task.Spec.Input is
// ignored and the input written by CreateTask is never rewritten, so updates
// cost the same however large the input is. Updating a task that is not
// stored does nothing (the store keeps no task without its CreateTask).
func UpdateTask(task *flamev1.Task) Mutation {
	return Mutation{kind: kindUpdateTask, task: task}
}

// String describes m for logs and errors, e.g. "UpdateTask(ssn-1/7)".
func (m Mutation) String() string {
	switch m.kind {
	case kindPutApplication:
		return fmt.Sprintf("%v(%s)", m.kind, m.app.GetMetadata().GetName())
	case kindDeleteApplication, kindDeleteSession:
		return fmt.Sprintf("%v(%s)", m.kind, m.id)
	case kindPutSession:
		return fmt.Sprintf("%v(%s)", m.kind, m.session.GetMetadata().GetId())
	case kindCreateTask, kindUpdateTask:
		return fmt.Sprintf("%v(%s/%s)", m.kind, m.task.GetSpec().GetSessionId(), m.task.GetMetadata().GetId())
	}
	return m.kind.String()
}

// check validates m's keys. For task mutations it returns the parsed task ID.
func (m Mutation) check() (taskID uint32, err error) {
	switch m.kind {
	case kindPutApplication:
		if m.app.GetMetadata().GetName() == "" {
			return 0, fmt.Errorf("%w: %v: the application has no metadata.name; set it to the application name", ErrInvalidMutation, m)
		}
	case kindDeleteApplication:
		if m.id == "" {
			return 0, fmt.Errorf("%w: %v: the application name is empty", ErrInvalidMutation, m)
		}
	case kindPutSession:
		if m.session.GetMetadata().GetId() == "" {
			return 0, fmt.Errorf("%w: %v: the session has no metadata.id; set it to the session ID", ErrInvalidMutation, m)
		}
	case kindDeleteSession:
		if m.id == "" {
			return 0, fmt.Errorf("%w: %v: the session ID is empty", ErrInvalidMutation, m)
		}
	case kindCreateTask, kindUpdateTask:
		if m.task.GetSpec().GetSessionId() == "" {
			return 0, fmt.Errorf("%w: %v: the task has no spec.session_id; set it to the ID of the task's session", ErrInvalidMutation, m)
		}
		id, ok := parseTaskID(m.task.GetMetadata().GetId())
		if !ok {
			return 0, fmt.Errorf("%w: %v: task metadata.id %q must be a decimal number from 0 to %d without leading zeros",
				ErrInvalidMutation, m, m.task.GetMetadata().GetId(), uint64(MaxTaskID))
		}
		return id, nil
	default:
		return 0, fmt.Errorf("%w: zero Mutation; build mutations with PutApplication, PutSession, CreateTask and the like", ErrInvalidMutation)
	}
	return 0, nil
}

// parseTaskID parses a canonical decimal task ID ("0", "1", ..., "4294967295").
func parseTaskID(s string) (uint32, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// Pending is the outcome of an Enqueue: it resolves when the mutations are
// durable or have failed.
type Pending struct {
	done  chan struct{} // closed once err is final
	err   error         // written before done is closed
	state atomic.Uint32 // pendingQueued, then pendingTaken or pendingWithdrawn

	// Set by the implementation that queued it; cleared when resolved.
	ops   []op // the prepared mutations (SQLite store)
	nops  int  // number of mutations, for batch limits
	bytes int  // bytes to write, for batch limits
}

const (
	pendingQueued uint32 = iota
	pendingTaken
	pendingWithdrawn
)

// closedChan is shared by every Pending that is resolved when it is created.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// resolved returns a Pending that has already finished with err.
func resolved(err error) *Pending {
	p := &Pending{done: closedChan, err: err}
	p.state.Store(pendingTaken)
	return p
}

// Wait blocks until the mutations are durable (nil) or failed. If ctx ends
// while they are still queued they are withdrawn, will never be applied, and
// Wait returns ctx's error. Once the committer has taken them into a
// transaction Wait ignores ctx and waits for that transaction (one fsync):
// a context error from Wait therefore always means "not applied". Wait may
// be called more than once and from several goroutines; every call returns
// the same result.
func (p *Pending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(pendingQueued, pendingWithdrawn) {
			// The committer skips withdrawn requests, so this goroutine
			// is the only one to resolve p.
			p.finish(ctx.Err())
		}
		<-p.done
		return p.err
	}
}

// finish records err and wakes every waiter. Exactly one goroutine calls it:
// the committer for taken requests, Wait for withdrawn ones.
func (p *Pending) finish(err error) {
	p.err = err
	p.ops = nil
	close(p.done)
}
