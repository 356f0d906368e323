package sessionmgr

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/flmctl/flmctl/internal/server/errs"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// CreateTask adds a pending task to an open session (spec §4.8).
func (m *Manager) CreateTask(ctx context.Context, req *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
	if req.GetTask() == nil {
		return nil, errs.InvalidArgument("task spec is missing")
	}
	sid := req.GetTask().GetSessionId()
	wait := waitRequested(ctx)
	m.mu.Lock()
	s, found := m.sessions[sid]
	if !found {
		m.mu.Unlock()
		return nil, errs.NotFound("session %s not found", sid)
	}
	if s.state != flamev1.SessionState_Open {
		m.mu.Unlock()
		return nil, errs.InvalidArgument("session %s is closed; cannot create a task in a closed session", sid)
	}
	id := int64(len(s.tasks)) + 1
	ids := strconv.FormatInt(id, 10)
	now := m.nowMillis()
	pb := &flamev1.Task{
		Metadata: &flamev1.Metadata{Id: ids, Name: ids},
		Spec:     &flamev1.TaskSpec{SessionId: sid, Input: req.GetTask().Input},
		Status: &flamev1.TaskStatus{
			State:        flamev1.TaskState_Pending,
			CreationTime: now,
			Events:       []*flamev1.Event{{Code: int32(flamev1.TaskState_Pending), Message: &msgTaskCreated, CreationTime: now}},
		},
	}
	t := &task{id: id, pb: pb}
	t.published.Store(pb)
	s.tasks = append(s.tasks, t)
	s.counts[flamev1.TaskState_Pending]++
	s.shown[flamev1.TaskState_Pending]++
	s.pushPending(t)
	grow := !s.starved && m.needsExecutorLocked(s)
	b := m.persist.enqueue(nil, store.CreateTask(pb))
	var ended <-chan struct{}
	if wait {
		ended = waitChan(&t.ended)
	}
	m.mu.Unlock()
	if grow {
		m.kickScheduler()
	}
	var res *flamev1.Task
	if wait {
		// Wait for the end and the creation's commit together: the end is
		// committed after the creation, so by the time it is published
		// the creation's outcome is known too. A failed creation ends the
		// wait at once, for b.wait below to report.
		var err error
		if res, err = m.awaitTerminal(ctx, t, ended, b); err != nil {
			return nil, err
		}
	}
	if err := b.wait(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the caller is gone; the task stands
		}
		return nil, errs.Internal("create task in session %s: %v", sid, err)
	}
	if res != nil {
		return res, nil
	}
	return pb, nil
}

// waitRequested reports whether the caller asked CreateTask to answer with
// the terminal task (flamev1.WaitMetadataKey).
func waitRequested(ctx context.Context) bool {
	v := metadata.ValueFromIncomingContext(ctx, flamev1.WaitMetadataKey)
	return len(v) == 1 && v[0] == flamev1.WaitTerminal
}

// awaitTerminal waits until t is terminal and returns it; ended is
// waitChan(&t.ended), read under m.mu. When the manager ends the waits first
// (EndWaits, Stop), or the commit of created (if not nil) fails, it returns
// t as it stands: the caller then watches it, and learns at least its id.
// Terminal states are published after their commit, so what it returns is
// durable.
func (m *Manager) awaitTerminal(ctx context.Context, t *task, ended <-chan struct{}, created *batch) (*flamev1.Task, error) {
	var createdDone <-chan struct{}
	if created != nil {
		createdDone = created.done
	}
wait:
	for {
		select {
		case <-ended:
			if end := t.terminalAfterWake(); end != nil {
				return end, nil
			}
			break wait
		case <-createdDone:
			if created.err != nil {
				break wait
			}
			createdDone = nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.waits.Done():
			break wait
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return t.view(), nil
}

// terminalAfterWake returns t's published state if it is terminal, read
// without m.mu, or nil. Call it after t.changed or t.ended was closed. One
// group commit publishes the ends of many tasks at once; when every caller
// it woke took m.mu to read its task, the executors queued behind them for
// the lock (a mutex profile of 40,000 Invokes on the durable store: 25 s of
// waiting on m.mu, 6 s without those reads and the wake-ups at Running, 4 s
// on the in-memory store). A terminal state is final, and it is published
// before the channel is closed.
func (t *task) terminalAfterWake() *flamev1.Task {
	if pb := t.published.Load(); pb != nil && isTerminal(pb.GetStatus().GetState()) {
		return pb
	}
	return nil
}

// lookupTask finds a task by its ids. m.mu must be held.
func (m *Manager) lookupTask(sessionID, taskID string) (*session, *task, error) {
	id, err := parseTaskID(taskID)
	if err != nil {
		return nil, nil, err
	}
	s, found := m.sessions[sessionID]
	if !found {
		return nil, nil, errs.NotFound("session %s not found", sessionID)
	}
	if id > int64(len(s.tasks)) {
		return nil, nil, errs.NotFound("task %s not found in session %s", taskID, sessionID)
	}
	return s, s.tasks[id-1], nil
}

// GetTask returns one task with its input, output and events.
func (m *Manager) GetTask(_ context.Context, req *flamev1.GetTaskRequest) (*flamev1.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, t, err := m.lookupTask(req.GetSessionId(), req.GetTaskId())
	if err != nil {
		return nil, err
	}
	return t.view(), nil
}

// listChunk bounds how many tasks ListTask copies per lock hold.
const listChunk = 512

// ListTask streams the tasks of a session in id order (with their events).
func (m *Manager) ListTask(req *flamev1.ListTaskRequest, stream grpc.ServerStreamingServer[flamev1.Task]) error {
	sid := req.GetSessionId()
	buf := make([]*flamev1.Task, 0, listChunk)
	for next := 0; ; {
		buf = buf[:0]
		m.mu.Lock()
		s, found := m.sessions[sid]
		if !found {
			m.mu.Unlock()
			if next == 0 {
				return errs.NotFound("session %s not found", sid)
			}
			return nil // deleted while listing: what was sent stands
		}
		for ; next < len(s.tasks) && len(buf) < listChunk; next++ {
			buf = append(buf, s.tasks[next].view())
		}
		more := next < len(s.tasks)
		m.mu.Unlock()
		for _, t := range buf {
			if err := stream.Send(t); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// WatchTask streams each state change of a task until a terminal one
// (spec §4.8): the current state is sent when it differs from the last one
// sent, and the stream ends after a terminal state. An unknown task is
// NOT_FOUND (spec §18.5). A caller that asks to wait (flamev1.WaitMetadataKey)
// gets the terminal state alone.
func (m *Manager) WatchTask(req *flamev1.WatchTaskRequest, stream grpc.ServerStreamingServer[flamev1.Task]) error {
	ctx := stream.Context()
	terminalOnly := waitRequested(ctx)
	m.mu.Lock()
	_, t, err := m.lookupTask(req.GetSessionId(), req.GetTaskId())
	if err != nil {
		m.mu.Unlock()
		return err
	}
	last := flamev1.TaskState(-1)
	if pb := t.published.Load(); pb != nil && pb.GetStatus().GetState() == flamev1.TaskState_Pending {
		last = flamev1.TaskState_Pending // the initial Pending is not sent
	}
	for {
		pb := t.view()
		var changed <-chan struct{}
		if terminalOnly {
			changed = waitChan(&t.ended)
		} else {
			changed = waitChan(&t.changed)
		}
		m.mu.Unlock()
		st := pb.GetStatus().GetState()
		if st != last && (!terminalOnly || isTerminal(st)) {
			if err := stream.Send(pb); err != nil {
				return err
			}
			if isTerminal(st) {
				return nil
			}
			last = st
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-m.ctx.Done():
			return errs.Unavailable("the session manager is shutting down")
		}
		if end := t.terminalAfterWake(); end != nil {
			return stream.Send(end)
		}
		m.mu.Lock()
	}
}
