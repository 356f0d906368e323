package sessionmgr

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/flmctl/flmctl/internal/server/scheduler"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// scheduleLoop runs the scheduler when kicked (a new task, a session, an
// executor freed) and at least every ScheduleInterval (idle executors are
// released, nodes' capacity changes).
func (m *Manager) scheduleLoop() {
	tick := time.NewTicker(m.opts.ScheduleInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
		case <-tick.C:
		}
		m.scheduleOnce()
	}
}

// scheduleOnce takes a snapshot, plans and applies the plan, all under the
// lock so that the plan is applied to the state it was computed from.
func (m *Manager) scheduleOnce() {
	m.mu.Lock()
	plan := scheduler.Schedule(m.snapshotLocked())
	muts := m.applyLocked(plan)
	for _, s := range m.sessions {
		s.starved = s.state == flamev1.SessionState_Open && m.needsExecutorLocked(s)
	}
	var b *batch
	if len(muts) > 0 {
		b = m.persist.enqueue(nil, muts...)
	}
	m.mu.Unlock()
	if b != nil {
		if err := b.wait(m.ctx); err != nil && m.ctx.Err() == nil {
			m.log.Error("persisting session events failed", "err", err)
		}
	}
}

func toResources(r *flamev1.ResourceRequirement) scheduler.Resources {
	return scheduler.Resources{CPU: r.GetCpu(), Memory: r.GetMemory(), GPU: r.GetGpu()}
}

// snapshotLocked builds the scheduler's view. m.mu must be held.
func (m *Manager) snapshotLocked() scheduler.Snapshot {
	var snap scheduler.Snapshot
	for _, n := range m.nodes {
		snap.Nodes = append(snap.Nodes, scheduler.Node{
			Name:         n.name,
			Capacity:     toResources(n.pb.GetStatus().GetAllocatable()),
			Ready:        n.pb.GetStatus().GetState() == flamev1.NodeState_Ready,
			MaxExecutors: n.maxExecutors,
		})
	}
	for _, s := range m.sessions {
		if s.state != flamev1.SessionState_Open {
			continue
		}
		ss := scheduler.Session{
			ID:           s.id,
			Priority:     s.spec.GetPriority(),
			Created:      s.created,
			Pending:      int(s.counts[flamev1.TaskState_Pending]),
			Running:      int(s.counts[flamev1.TaskState_Running]),
			MinInstances: s.spec.GetMinInstances(),
			MaxInstances: s.spec.MaxInstances,
			ResReq:       toResources(s.spec.GetResreq()),
			Schedulable:  s.retries < m.opts.RetryLimit,
		}
		if app := m.apps[s.spec.GetApplication()]; app != nil {
			ss.AppMaxInstances = app.GetSpec().MaxInstances
			ss.Shim = scheduler.Shim(app.GetSpec().GetShim())
		}
		snap.Sessions = append(snap.Sessions, ss)
	}
	for _, e := range m.executors {
		se := scheduler.Executor{
			ID:     e.id,
			Node:   e.node,
			State:  scheduler.ExecutorState(e.state),
			ResReq: toResources(e.resreq),
		}
		switch {
		case e.session != nil:
			se.SessionID = e.session.id
		case e.intended != nil:
			se.SessionID = e.intended.id
		}
		snap.Executors = append(snap.Executors, se)
	}
	return snap
}

// applyLocked carries a plan out and returns the session events it adds.
// m.mu must be held.
func (m *Manager) applyLocked(plan scheduler.Plan) []store.Mutation {
	for _, b := range plan.Bind {
		e, s := m.executors[b.ExecutorID], m.sessions[b.SessionID]
		if e == nil || s == nil || e.state != flamev1.ExecutorState_ExecutorIdle {
			continue
		}
		m.bindLocked(e, s)
		m.notifyNodeLocked(e)
	}
	for _, c := range plan.Create {
		s, n := m.sessions[c.SessionID], m.nodes[c.Node]
		if s == nil || n == nil {
			continue
		}
		e := &executor{
			id:       uuid.NewString(),
			node:     n.name,
			resreq:   s.spec.GetResreq(),
			state:    flamev1.ExecutorState_ExecutorVoid,
			intended: s,
			wake:     make(chan struct{}),
		}
		m.executors[e.id] = e
		m.notifyNodeLocked(e)
	}
	for _, id := range plan.Release {
		e := m.executors[id]
		if e == nil || e.state != flamev1.ExecutorState_ExecutorIdle {
			continue
		}
		e.state = flamev1.ExecutorState_ExecutorReleasing
		broadcast(&e.wake)
		m.notifyNodeLocked(e)
	}
	var muts []store.Mutation
	for _, note := range plan.Notes {
		s := m.sessions[note.SessionID]
		key := note.Reason.String()
		if s == nil || s.noted[key] {
			continue
		}
		if s.noted == nil {
			s.noted = map[string]bool{}
		}
		s.noted[key] = true
		muts = append(muts, m.addSessionEvent(s, EventUnschedulable, note.Message))
	}
	return muts
}

// needsExecutorLocked reports whether s could use another executor now, so
// that CreateTask wakes the scheduler only when it may have work.
// m.mu must be held.
func (m *Manager) needsExecutorLocked(s *session) bool {
	want := int64(s.counts[flamev1.TaskState_Pending] + s.counts[flamev1.TaskState_Running])
	if mx := s.spec.MaxInstances; mx != nil {
		want = min(want, int64(*mx))
	}
	have := int64(0)
	for _, e := range m.executors {
		if e.session == s || e.intended == s {
			if have++; have >= want {
				return false
			}
		}
	}
	return have < want
}

func sortByID(list []*flamev1.Executor) {
	slices.SortFunc(list, func(a, b *flamev1.Executor) int {
		return strings.Compare(a.GetMetadata().GetId(), b.GetMetadata().GetId())
	})
}
