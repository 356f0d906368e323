// Package sessionmgr is the embedded Flame session manager: it owns
// applications, sessions, tasks, executors and nodes, serves the Frontend
// service to clients and the Backend contract to executor managers (in
// process, or over gRPC for nodes on other machines), and runs the scheduler.
//
// All state lives in memory behind one mutex and is served from there; every
// change is written to the store (in order, in groups) and acknowledged only
// once it is durable. Task and session state machines follow upstream Flame
// (flame-protocol.md §4–§6) with the decisions of §18.
package sessionmgr

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/protobuf/proto"
)

// Defaults of upstream Flame (spec §3.4).
const (
	DefaultMaxInstances     = 1000000
	DefaultDelayRelease     = 60 // seconds
	DefaultRetryLimit       = 5
	DefaultScheduleInterval = 100 * time.Millisecond
)

// DefaultResReq is the session resource requirement used when neither the
// session nor the server configuration gives one: 1 CPU, 1 GiB, no GPU.
func DefaultResReq() *flamev1.ResourceRequirement {
	return &flamev1.ResourceRequirement{Cpu: 1, Memory: 1 << 30}
}

// Options configure a Manager.
type Options struct {
	// Store persists every change; nil keeps nothing (state is lost when
	// the manager stops).
	Store store.Store
	// Logger receives the manager's logs. Nil discards them.
	Logger *slog.Logger
	// ResReq is the default resource requirement of sessions that give none.
	ResReq *flamev1.ResourceRequirement
	// RetryLimit is the number of failed binds after which a session is no
	// longer scheduled (0 means DefaultRetryLimit).
	RetryLimit int
	// ScheduleInterval is the period of the scheduler when nothing wakes it
	// earlier (0 means DefaultScheduleInterval).
	ScheduleInterval time.Duration
	// MaxExecutorsPerNode caps the executors of each node: 0 means twice
	// the node's CPUs and at least 4, a negative value means no cap.
	MaxExecutorsPerNode int
	// Now returns the current time (nil means time.Now).
	Now func() time.Time
}

// Manager is the session manager. Create it with New, then Start it.
type Manager struct {
	flamev1.UnimplementedFrontendServer

	opts    Options
	log     *slog.Logger
	now     func() time.Time
	persist *persister

	ctx    context.Context // ends when Stop begins
	cancel context.CancelFunc
	// waits ends when EndWaits is called (or Stop begins): CreateTask calls
	// awaiting their task answer with it as it stands.
	waits    context.Context
	endWaits context.CancelFunc
	wg       sync.WaitGroup
	kick     chan struct{} // capacity 1: "run the scheduler now"

	mu sync.Mutex // guards everything below and the mutable parts of the objects it reaches
	// apps by name.
	apps map[string]*flamev1.Application
	// sessions by id (open and closed).
	sessions map[string]*session
	// executors by id.
	executors map[string]*executor
	// nodes by name.
	nodes map[string]*node
	// stopped is set when Stop begins; new long polls are refused.
	stopped bool
}

// session is the in-memory state of one session. Its fields are guarded by
// Manager.mu.
type session struct {
	id    string
	spec  *flamev1.SessionSpec // immutable once created
	state flamev1.SessionState
	// created and completed are Unix milliseconds; completed is 0 while open.
	created, completed int64
	events             []*flamev1.Event
	// tasks by id-1 (task ids are 1, 2, 3, ...).
	tasks []*task
	// pending holds the pending tasks in id order.
	pending taskQueue
	counts  [5]int32 // tasks per TaskState (of task.pb)
	shown   [5]int32 // tasks per published TaskState: the counts clients see
	// retries counts failed binds (in memory only, as upstream).
	retries int
	// finished holds the tasks whose end was published, oldest first,
	// until they are compacted.
	finished taskQueue
	// starved: the last scheduling pass left the session with fewer
	// executors than it wants. A new task does not wake the scheduler then,
	// as it cannot change the outcome: what frees capacity wakes it itself
	// (an executor registered, unbound or unregistered, a node registered,
	// changed, drained or released, a session opened or closed), and the
	// periodic pass (ScheduleInterval) covers the rest, such as capacity
	// held back for a higher priority that no longer needs it.
	starved bool
	// noted records the scheduler notes already turned into events.
	noted map[string]bool
	// taskReady is closed (broadcast) when a task becomes pending or the
	// session closes, waking executors waiting in LaunchTask.
	taskReady chan struct{}
}

// task is the in-memory state of one task. pb is replaced, never mutated, on
// every change, so a reader may use the pointer it got under the lock.
type task struct {
	id int64
	// pb is the task's current state, which the manager works from.
	pb *flamev1.Task
	// published is what clients are shown: pb once its change is durable
	// (or needs no durability, like Running, which is never stored). A
	// terminal state is published only after its commit, so no client sees
	// an outcome a crash could take back. (A commit that fails publishes
	// too: the store is then failing every change, and watchers and waiting
	// calls are not left hanging.) It is written with m.mu held; it is
	// atomic so that a caller woken by a terminal state can read it without
	// the lock (see terminalAfterWake).
	published atomic.Pointer[flamev1.Task]
	// changed is closed whenever published changes (broadcast); nil while
	// no one waits (waitChan), closedChan once the task has ended.
	changed chan struct{}
	// ended is closed once a terminal state is published. Callers that
	// want only the end wait on it instead of changed, so Running does not
	// wake them. Like changed: nil while no one waits (waitChan),
	// closedChan once the task has ended.
	ended chan struct{}
	// enc holds a finished task encoded, once compact has dropped pb and
	// published (then nil) so that the garbage collector need not trace
	// it; final is its terminal state.
	enc   []byte
	final flamev1.TaskState
}

// view returns what clients are shown of t: a compacted task is decoded
// afresh. m.mu must be held.
func (t *task) view() *flamev1.Task {
	if pb := t.published.Load(); pb != nil {
		return pb
	}
	pb := new(flamev1.Task)
	if err := proto.Unmarshal(t.enc, pb); err != nil {
		// Cannot happen (enc was marshalled from a valid Task); should it,
		// the id and the state are still known.
		return &flamev1.Task{
			Metadata: &flamev1.Metadata{Id: strconv.FormatInt(t.id, 10)},
			Status:   &flamev1.TaskStatus{State: t.final},
		}
	}
	return pb
}

// finishedNow queues t, whose end was just published, and compacts the
// task that finished compactLag before it: one at a time, so that the lock
// is never held for a burst of them. m.mu must be held.
func (s *session) finishedNow(t *task) {
	s.finished.push(t)
	if s.finished.len() > compactLag {
		s.finished.pop().compact()
	}
}

// compactLag is how many tasks of a session finish after one before it is
// compacted: a caller awaiting a task reads it within microseconds of its
// end, and finds the message rather than the bytes.
const compactLag = 1024

// compact keeps a finished task encoded, one pointer-free buffer, instead
// of its messages (about ten objects with strings and events). Finished
// tasks stay in memory for as long as their session, and were most of the
// live heap: the garbage collector traced them all at every cycle, which
// cost ~20 % of the cluster's CPU under many small tasks. t must be
// terminal and published. m.mu must be held.
func (t *task) compact() {
	enc, err := proto.MarshalOptions{}.Marshal(t.published.Load())
	if err != nil {
		return // keep the message
	}
	t.final = t.pb.GetStatus().GetState()
	t.enc, t.pb = enc, nil
	t.published.Store(nil)
}

// publish shows pb as t to clients, counts it in the session's shown
// counts, and wakes t's watchers. m.mu must be held.
func (s *session) publish(t *task, pb *flamev1.Task) {
	s.shown[t.published.Load().GetStatus().GetState()]--
	t.published.Store(pb)
	s.shown[pb.GetStatus().GetState()]++
	if isTerminal(pb.GetStatus().GetState()) {
		// The last change (a terminal task is never requeued): its
		// watchers wake, and later ones find the channel closed.
		closeForGood(&t.changed)
		closeForGood(&t.ended)
		if t.pb == pb {
			s.finishedNow(t)
		}
		return
	}
	broadcast(&t.changed)
}

func (t *task) state() flamev1.TaskState {
	if t.pb == nil {
		return t.final
	}
	return t.pb.GetStatus().GetState()
}

// New loads the store's state and returns a manager ready to Start.
// Tasks that were running when the previous process stopped are queued again.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ResReq == nil {
		opts.ResReq = DefaultResReq()
	}
	if opts.RetryLimit <= 0 {
		opts.RetryLimit = DefaultRetryLimit
	}
	if opts.ScheduleInterval <= 0 {
		opts.ScheduleInterval = DefaultScheduleInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Manager{
		opts: opts,
		log:  opts.Logger,
		now:  opts.Now,

		kick:      make(chan struct{}, 1),
		apps:      map[string]*flamev1.Application{},
		sessions:  map[string]*session{},
		executors: map[string]*executor{},
		nodes:     map[string]*node{},
	}
	m.persist = newPersister(opts.Store, &m.mu)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.waits, m.endWaits = context.WithCancel(m.ctx)
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// load rebuilds the in-memory state from the store.
func (m *Manager) load(ctx context.Context) error {
	if m.opts.Store == nil {
		return nil
	}
	st, err := m.opts.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	for _, a := range st.Applications {
		m.apps[a.GetMetadata().GetName()] = a
	}
	for _, pb := range st.Sessions {
		s := &session{
			id:        pb.GetMetadata().GetId(),
			spec:      pb.GetSpec(),
			state:     pb.GetStatus().GetState(),
			created:   pb.GetStatus().GetCreationTime(),
			completed: pb.GetStatus().GetCompletionTime(),
			events:    pb.GetStatus().GetEvents(),
			taskReady: make(chan struct{}),
		}
		m.sessions[s.id] = s
	}
	requeued := 0
	for _, pb := range st.Tasks {
		s := m.sessions[pb.GetSpec().GetSessionId()]
		if s == nil {
			m.log.Warn("dropping a stored task of an unknown session", "session", pb.GetSpec().GetSessionId(), "task", pb.GetMetadata().GetId())
			continue
		}
		id, err := strconv.ParseInt(pb.GetMetadata().GetId(), 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("load state: session %s has a task with id %q", s.id, pb.GetMetadata().GetId())
		}
		if pb.GetStatus().GetState() == flamev1.TaskState_Running {
			pb = withTaskState(pb, flamev1.TaskState_Pending, nil)
			requeued++
		}
		if id != int64(len(s.tasks))+1 {
			return fmt.Errorf("load state: session %s: task %d stored where task %d was expected", s.id, id, len(s.tasks)+1)
		}
		t := &task{id: id, pb: pb}
		t.published.Store(pb)
		s.tasks = append(s.tasks, t)
		s.counts[t.state()]++
		s.shown[t.state()]++
		if isTerminal(t.state()) {
			t.changed, t.ended = closedChan, closedChan
			t.compact()
		}
		if t.state() == flamev1.TaskState_Pending {
			s.pending.push(t)
		}
	}
	if len(st.Sessions)+len(st.Tasks) > 0 {
		m.log.Info("state loaded", "applications", len(st.Applications), "sessions", len(st.Sessions), "tasks", len(st.Tasks), "requeued", requeued)
	}
	return nil
}

// Start runs the persister and the scheduler. It returns at once.
func (m *Manager) Start() {
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.persist.run(m.ctx.Done()) }()
	go func() { defer m.wg.Done(); m.scheduleLoop() }()
}

// Stop ends the manager: (1) long polls and watches return, (2) the
// scheduler stops, (3) changes already enqueued are committed, (4) the
// goroutines are waited for. It does not close the store. Idempotent.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.stopDrainsLocked()
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// EndWaits answers every CreateTask awaiting its task's end
// (flamev1.WaitMetadataKey) with the task as it stands, and the calls made
// later at once: the callers then watch their tasks. A server that stops
// calls it first, while it still answers, so that callers learn the ids of
// the tasks they created.
func (m *Manager) EndWaits() { m.endWaits() }

// kickScheduler asks the scheduler loop to run soon; it never blocks.
func (m *Manager) kickScheduler() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) nowMillis() int64 { return m.now().UnixMilli() }

// event returns a new event stamped now.
func (m *Manager) event(code int32, msg string) *flamev1.Event { return m.eventOf(code, &msg) }

func (m *Manager) eventOf(code int32, msg *string) *flamev1.Event {
	return &flamev1.Event{Code: code, Message: msg, CreationTime: m.nowMillis()}
}

// The messages of a task's routine events. Events share these strings (as
// they share everything else of a task's messages, which are never changed
// once built), so that a task kept in memory is fewer objects for the
// garbage collector to visit.
var (
	msgTaskCreated   = "Task was created with state <Pending>"
	msgTaskRunning   = "Task state was updated to <Running>"
	msgTaskSucceeded = "Task was completed with state <Succeed>"
)

// taskEvent is the event of a task entering st, with one of the messages
// above.
func (m *Manager) taskEvent(st flamev1.TaskState, msg *string) *flamev1.Event {
	return m.eventOf(int32(st), msg)
}

// closedChan is the changed and ended channel of a task that has ended.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// broadcast wakes everyone waiting on *ch (see waitChan) by closing it; the
// next waiter makes a new one. A closedChan stays as it is. m.mu must be
// held.
func broadcast(ch *chan struct{}) {
	if *ch != nil && *ch != closedChan {
		close(*ch)
		*ch = nil
	}
}

// closeForGood wakes everyone waiting on *ch and leaves it closed for
// later waiters. m.mu must be held.
func closeForGood(ch *chan struct{}) {
	broadcast(ch)
	*ch = closedChan
}

// waitChan returns the channel the next broadcast on *ch closes, making it
// if no one waits yet: without waiters a broadcast then costs nothing (a
// task is created and changes state with nobody watching, and each
// broadcast used to make a new channel). m.mu must be held.
func waitChan(ch *chan struct{}) <-chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

// pushPending appends t to the session's pending queue.
// m.mu must be held.
func (s *session) pushPending(t *task) {
	s.pending.push(t)
	broadcast(&s.taskReady)
}

// popPending removes and returns the first pending task, or nil.
// m.mu must be held.
func (s *session) popPending() *task {
	for t := s.pending.pop(); t != nil; t = s.pending.pop() {
		if t.state() == flamev1.TaskState_Pending {
			return t
		}
	}
	return nil
}

// taskQueue is a FIFO of tasks in a slice from head on, compacted as it
// drains.
type taskQueue struct {
	items []*task
	head  int
}

func (q *taskQueue) push(t *task) { q.items = append(q.items, t) }

// pushFront puts t before every queued task.
func (q *taskQueue) pushFront(t *task) {
	q.items = append(q.items[:q.head:q.head], append([]*task{t}, q.items[q.head:]...)...)
}

func (q *taskQueue) len() int { return len(q.items) - q.head }

// pop removes and returns the first task, or nil.
func (q *taskQueue) pop() *task {
	if q.head == len(q.items) {
		return nil
	}
	t := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = slices.Clone(q.items[q.head:])
		q.head = 0
	}
	return t
}

// snapshot returns the session as a wire message; events only if asked.
// m.mu must be held.
func (s *session) snapshot(withEvents bool) *flamev1.Session {
	st := &flamev1.SessionStatus{
		State:        s.state,
		CreationTime: s.created,
		Pending:      s.shown[flamev1.TaskState_Pending],
		Running:      s.shown[flamev1.TaskState_Running],
		Succeed:      s.shown[flamev1.TaskState_Succeed],
		Failed:       s.shown[flamev1.TaskState_Failed],
		Cancelled:    s.shown[flamev1.TaskState_Cancelled],
	}
	if s.completed != 0 {
		c := s.completed
		st.CompletionTime = &c
	}
	if withEvents {
		st.Events = s.events[:len(s.events):len(s.events)]
	}
	return &flamev1.Session{
		Metadata: &flamev1.Metadata{Id: s.id, Name: s.id},
		Spec:     s.spec,
		Status:   st,
	}
}

// addEvent records a session event and returns the mutation persisting it.
// m.mu must be held.
func (m *Manager) addSessionEvent(s *session, code int32, msg string) store.Mutation {
	s.events = append(s.events, m.event(code, msg))
	return store.PutSession(s.snapshot(true))
}

// withTaskState returns a copy of t in state st (completion time set for
// terminal states) with ev appended to its events when not nil.
func withTaskState(t *flamev1.Task, st flamev1.TaskState, ev *flamev1.Event) *flamev1.Task {
	status := &flamev1.TaskStatus{
		State:        st,
		CreationTime: t.GetStatus().GetCreationTime(),
		Events:       t.GetStatus().GetEvents(),
	}
	if ev != nil {
		status.Events = append(slices.Clip(status.Events), ev)
		if isTerminal(st) {
			status.CompletionTime = &ev.CreationTime // shared, as above
		}
	}
	return &flamev1.Task{Metadata: t.Metadata, Spec: t.Spec, Status: status}
}

func isTerminal(st flamev1.TaskState) bool {
	return st == flamev1.TaskState_Succeed || st == flamev1.TaskState_Failed || st == flamev1.TaskState_Cancelled
}

// setTaskState moves t to pb's state, keeping the session's counters, and
// publishes it at once (publish=true), or leaves that to the caller, after
// the change's commit. m.mu must be held.
func (s *session) setTaskState(t *task, pb *flamev1.Task, publish bool) {
	s.counts[t.state()]--
	t.pb = pb
	s.counts[t.state()]++
	if publish {
		s.publish(t, pb)
	}
}
