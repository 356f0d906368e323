package sessionmgr

import (
	"context"
	"fmt"
	"time"

	"github.com/flmctl/flmctl/internal/server/errs"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Bind-failure and scheduling event codes of sessions (spec §5.3).
const (
	EventBindFailed        = 1001 // SESSION_BIND_FAILED
	EventRetryLimitReached = 1002 // SESSION_RETRY_LIMIT_REACHED
	// EventUnschedulable is our extension (spec §18.10): the scheduler cannot
	// place the session (no node supports its shim, or none is big enough).
	EventUnschedulable = 1003
	// EventInstanceExited is our extension (spec §18.14): an instance died
	// while bound; it counts against the retry limit like a failed bind.
	EventInstanceExited = 1004
)

// executor is the session manager's record of one executor (spec §6.2).
// Its fields are guarded by Manager.mu.
type executor struct {
	id, node string
	resreq   *flamev1.ResourceRequirement
	state    flamev1.ExecutorState
	// session is the session being bound or bound (Binding, Bound).
	session *session
	// intended is the session a Void executor was created for; it is bound
	// to it as soon as it registers.
	intended *session
	// task is the task the executor is running.
	task *task
	// wake is closed (broadcast) when the executor is given a session or is
	// being released, ending a BindExecutor long poll.
	wake chan struct{}
}

// message returns the wire form of e. m.mu must be held.
func (e *executor) message() *flamev1.Executor {
	st := &flamev1.ExecutorStatus{State: e.state}
	if e.session != nil {
		id := e.session.id
		st.SessionId = &id
	}
	return &flamev1.Executor{
		Metadata: &flamev1.Metadata{Id: e.id, Name: e.id},
		Spec:     &flamev1.ExecutorSpec{Node: e.node, Resreq: e.resreq, Shim: flamev1.Shim_Host},
		Status:   st,
	}
}

func (m *Manager) executorLocked(id string) (*executor, error) {
	e, found := m.executors[id]
	if !found {
		return nil, errs.NotFound("executor %s not found", id)
	}
	return e, nil
}

func wrongState(e *executor) error {
	return errs.InvalidArgument("Executor is %s", shortState(e.state))
}

func shortState(s flamev1.ExecutorState) string {
	if n := s.String(); len(n) > len("Executor") {
		return n[len("Executor"):]
	}
	return s.String()
}

// RegisterExecutor moves an executor the scheduler created from Void to Idle,
// binding it at once to the session it was created for.
func (m *Manager) RegisterExecutor(_ context.Context, id string, spec *flamev1.ExecutorSpec) error {
	if spec == nil {
		return errs.InvalidArgument("executor spec is missing")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.executorLocked(id)
	if err != nil {
		return err
	}
	if e.state != flamev1.ExecutorState_ExecutorVoid {
		return wrongState(e)
	}
	e.state = flamev1.ExecutorState_ExecutorIdle
	if s := e.intended; s != nil && m.schedulableLocked(s) {
		m.bindLocked(e, s)
	}
	e.intended = nil
	m.notifyNodeLocked(e)
	m.kickScheduler() // an Idle executor is capacity to plan with
	return nil
}

// bindLocked moves an Idle executor to Binding for s. m.mu must be held.
func (m *Manager) bindLocked(e *executor, s *session) {
	e.state = flamev1.ExecutorState_ExecutorBinding
	e.session = s
	broadcast(&e.wake)
}

// schedulableLocked reports whether s may get executors. m.mu must be held.
func (m *Manager) schedulableLocked(s *session) bool {
	return s.state == flamev1.SessionState_Open && s.retries < m.opts.RetryLimit
}

// BindExecutor waits until the executor is given a session and returns the
// application and the session, or returns both nil when the executor is
// being released or its session is gone or closed (spec §6.2). The wait is
// unbounded; it ends with ctx or when the manager stops.
func (m *Manager) BindExecutor(ctx context.Context, id string) (*flamev1.Application, *flamev1.Session, error) {
	m.mu.Lock()
	for {
		e, err := m.executorLocked(id)
		if err != nil {
			m.mu.Unlock()
			return nil, nil, err
		}
		switch e.state {
		case flamev1.ExecutorState_ExecutorBinding:
			s := e.session
			defer m.mu.Unlock()
			if s == nil || s.state != flamev1.SessionState_Open || m.sessions[s.id] != s {
				return nil, nil, nil
			}
			app := m.apps[s.spec.GetApplication()]
			if app == nil {
				return nil, nil, nil
			}
			return app, s.snapshot(false), nil
		case flamev1.ExecutorState_ExecutorReleasing, flamev1.ExecutorState_ExecutorReleased:
			m.mu.Unlock()
			return nil, nil, nil
		case flamev1.ExecutorState_ExecutorIdle, flamev1.ExecutorState_ExecutorVoid:
		default:
			m.mu.Unlock()
			return nil, nil, wrongState(e)
		}
		wake := waitChan(&e.wake)
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-m.ctx.Done():
			return nil, nil, errs.Unavailable("the session manager is shutting down")
		}
		m.mu.Lock()
	}
}

// BindExecutorCompleted records the outcome of a bind: Bound on success; on
// failure a 1001 event (and 1002 when the retry limit is reached) and
// Unbinding (spec §5.3, §6.2, §6.6).
func (m *Manager) BindExecutorCompleted(ctx context.Context, id string, res *flamev1.Result) error {
	m.mu.Lock()
	e, err := m.executorLocked(id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if e.state != flamev1.ExecutorState_ExecutorBinding {
		m.mu.Unlock()
		return wrongState(e)
	}
	s := e.session
	if res.GetReturnCode() == 0 {
		defer m.mu.Unlock()
		if s == nil || m.sessions[s.id] != s {
			return errs.InvalidArgument("executor %s: its session no longer exists", id)
		}
		e.state = flamev1.ExecutorState_ExecutorBound
		m.notifyNodeLocked(e)
		return nil
	}
	e.state = flamev1.ExecutorState_ExecutorUnbinding
	e.session = nil
	var muts []store.Mutation
	if s != nil && m.sessions[s.id] == s {
		muts = m.countFailureLocked(s, EventBindFailed, fmt.Sprintf(
			"Executor %s on node %s failed to bind session with return_code <%d>: %s",
			e.id, e.node, res.GetReturnCode(), res.GetMessage()))
	}
	m.notifyNodeLocked(e)
	b := m.persist.enqueue(nil, muts...)
	m.mu.Unlock()
	m.kickScheduler()
	return b.wait(ctx)
}

// LaunchTask hands the executor's session's next pending task to it, marking
// it Running; it returns the task already assigned if the node retried the
// call. Without a pending task it waits up to the application's
// delay_release; it returns nil when the wait ends or the session closes,
// telling the executor to unbind.
func (m *Manager) LaunchTask(ctx context.Context, id string) (*flamev1.Task, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	m.mu.Lock()
	for {
		e, err := m.executorLocked(id)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		s := e.session
		if e.state != flamev1.ExecutorState_ExecutorBound || s == nil || s.state != flamev1.SessionState_Open {
			m.mu.Unlock()
			return nil, nil
		}
		if e.task != nil {
			pb := e.task.pb
			m.mu.Unlock()
			return pb, nil
		}
		if ctx.Err() != nil {
			// The executor gave up (its instance exited): assign nothing.
			m.mu.Unlock()
			return nil, ctx.Err()
		}
		if t := s.popPending(); t != nil {
			e.task = t
			pb := withTaskState(t.pb, flamev1.TaskState_Running, m.taskEvent(flamev1.TaskState_Running, &msgTaskRunning))
			s.setTaskState(t, pb, true)
			m.mu.Unlock()
			return pb, nil
		}
		if timer == nil {
			delay := time.Duration(m.delayReleaseLocked(s)) * time.Second
			if delay <= 0 {
				m.mu.Unlock()
				return nil, nil
			}
			timer = time.NewTimer(delay)
		}
		ready := waitChan(&s.taskReady)
		m.mu.Unlock()
		select {
		case <-ready:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.ctx.Done():
			return nil, errs.Unavailable("the session manager is shutting down")
		}
		m.mu.Lock()
	}
}

// delayReleaseLocked returns the application's delay_release in seconds.
// m.mu must be held.
func (m *Manager) delayReleaseLocked(s *session) int64 {
	if app := m.apps[s.spec.GetApplication()]; app != nil && app.GetSpec().DelayRelease != nil {
		return app.GetSpec().GetDelayRelease()
	}
	return DefaultDelayRelease
}

// CompleteTask records the result of the executor's running task: Succeed
// with its output when the return code is 0, else Failed with the message
// as a code-3 event (spec §5.1, §5.3). Watchers are told once the result is
// durable; the executor does not wait for that.
func (m *Manager) CompleteTask(_ context.Context, id string, res *flamev1.TaskResult) error {
	if res == nil {
		return errs.InvalidArgument("task result is missing")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.executorLocked(id)
	if err != nil {
		return err
	}
	if e.session == nil && e.state != flamev1.ExecutorState_ExecutorUnbinding {
		return errs.InvalidArgument("no session in executor")
	}
	t := e.task
	if t == nil {
		return errs.InvalidArgument("no task in executor")
	}
	s := m.sessions[t.pb.GetSpec().GetSessionId()]
	e.task = nil
	if s == nil || t.state() != flamev1.TaskState_Running {
		return nil // the session was deleted, or the task was requeued meanwhile
	}
	var pb *flamev1.Task
	if res.GetReturnCode() == 0 {
		pb = withTaskState(t.pb, flamev1.TaskState_Succeed, m.taskEvent(flamev1.TaskState_Succeed, &msgTaskSucceeded))
	} else {
		msg := res.GetMessage()
		if msg == "" {
			msg = "Task failed with state <Failed>"
		}
		pb = withTaskState(t.pb, flamev1.TaskState_Failed, m.event(int32(flamev1.TaskState_Failed), msg))
	}
	pb.Spec = &flamev1.TaskSpec{SessionId: pb.Spec.GetSessionId(), Input: pb.Spec.Input, Output: res.Output}
	s.setTaskState(t, pb, false)
	m.persist.enqueue(func() { s.publish(t, pb) }, store.UpdateTask(pb))
	return nil
}

// requeueLocked puts the executor's running task back to Pending (its
// executor is gone; spec §5.1). m.mu must be held.
func (m *Manager) requeueLocked(e *executor) {
	t := e.task
	e.task = nil
	if t == nil || t.state() != flamev1.TaskState_Running {
		return
	}
	s := m.sessions[t.pb.GetSpec().GetSessionId()]
	if s == nil {
		return
	}
	s.setTaskState(t, withTaskState(t.pb, flamev1.TaskState_Pending, nil), true)
	// Keep id order: a requeued task goes before the tasks created after it.
	s.pending.pushFront(t)
	broadcast(&s.taskReady)
}

// UnbindExecutor starts unbinding (Binding, Bound or Unbinding → Unbinding).
// A non-nil cause says the executor's instance died while bound (spec
// §18.14): the session gets an event and the loss counts against its retry
// limit like a failed bind.
func (m *Manager) UnbindExecutor(ctx context.Context, id string, cause error) error {
	m.mu.Lock()
	e, err := m.executorLocked(id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	switch e.state {
	case flamev1.ExecutorState_ExecutorBinding, flamev1.ExecutorState_ExecutorBound, flamev1.ExecutorState_ExecutorUnbinding:
	default:
		m.mu.Unlock()
		return wrongState(e)
	}
	var muts []store.Mutation
	if s := e.session; cause != nil && s != nil && m.sessions[s.id] == s {
		muts = m.countFailureLocked(s, EventInstanceExited, fmt.Sprintf("Executor %s on node %s lost its instance: %v", e.id, e.node, cause))
	}
	m.requeueLocked(e)
	e.state = flamev1.ExecutorState_ExecutorUnbinding
	e.session = nil
	m.notifyNodeLocked(e)
	if len(muts) == 0 {
		m.mu.Unlock()
		return nil
	}
	b := m.persist.enqueue(nil, muts...)
	m.mu.Unlock()
	return b.wait(ctx)
}

// countFailureLocked records a failed bind or a lost instance of s with an
// event, and the 1002 event when that reaches the retry limit.
// m.mu must be held.
func (m *Manager) countFailureLocked(s *session, code int32, msg string) []store.Mutation {
	s.retries++
	muts := []store.Mutation{m.addSessionEvent(s, code, msg)}
	if s.retries == m.opts.RetryLimit {
		muts = append(muts, m.addSessionEvent(s, EventRetryLimitReached, fmt.Sprintf(
			"Session retry limit reached after %d/%d failed attempts; new executor assignment is paused for this session; existing executors are unchanged.",
			s.retries, m.opts.RetryLimit)))
	}
	m.log.Warn("session executor failure", "session", s.id, "attempt", s.retries, "event", msg)
	return muts
}

// UnbindExecutorCompleted makes the executor Idle again; the scheduler then
// binds it to another session or releases it.
func (m *Manager) UnbindExecutorCompleted(_ context.Context, id string) error {
	m.mu.Lock()
	e, err := m.executorLocked(id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	switch e.state {
	case flamev1.ExecutorState_ExecutorBinding, flamev1.ExecutorState_ExecutorUnbinding:
	default:
		m.mu.Unlock()
		return wrongState(e)
	}
	m.requeueLocked(e)
	e.state = flamev1.ExecutorState_ExecutorIdle
	e.session = nil
	m.notifyNodeLocked(e)
	m.mu.Unlock()
	m.kickScheduler()
	return nil
}

// UnregisterExecutor removes a Releasing (or Binding) executor.
func (m *Manager) UnregisterExecutor(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.executorLocked(id)
	if err != nil {
		return err
	}
	switch e.state {
	case flamev1.ExecutorState_ExecutorReleasing, flamev1.ExecutorState_ExecutorBinding:
	default:
		return wrongState(e)
	}
	m.removeExecutorLocked(e)
	// Its capacity is free for a session that wants more executors.
	m.kickScheduler()
	return nil
}

// removeExecutorLocked deletes e, requeueing its task. m.mu must be held.
func (m *Manager) removeExecutorLocked(e *executor) {
	m.requeueLocked(e)
	e.state = flamev1.ExecutorState_ExecutorReleased
	e.session = nil
	broadcast(&e.wake)
	delete(m.executors, e.id)
	m.notifyNodeLocked(e)
}

// ListExecutor returns every executor.
func (m *Manager) ListExecutor(context.Context, *flamev1.ListExecutorRequest) (*flamev1.ExecutorList, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := make([]*flamev1.Executor, 0, len(m.executors))
	for _, e := range m.executors {
		list = append(list, e.message())
	}
	sortByID(list)
	return &flamev1.ExecutorList{Executors: list}, nil
}
