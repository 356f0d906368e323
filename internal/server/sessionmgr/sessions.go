package sessionmgr

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/flmctl/flmctl/internal/server/errs"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// resolveSpec copies spec with the server's normalisation applied: default
// resreq, batch size 1 (spec §4.4).
func (m *Manager) resolveSpec(spec *flamev1.SessionSpec) *flamev1.SessionSpec {
	s := proto.Clone(spec).(*flamev1.SessionSpec)
	if s.Resreq == nil {
		s.Resreq = proto.Clone(m.opts.ResReq).(*flamev1.ResourceRequirement)
	}
	s.BatchSize = 1
	return s
}

// CreateSession opens a new session (spec §4.4, §18.1).
func (m *Manager) CreateSession(ctx context.Context, req *flamev1.CreateSessionRequest) (*flamev1.Session, error) {
	if req.GetSession() == nil {
		return nil, errs.InvalidArgument("session spec is missing")
	}
	m.mu.Lock()
	s, b, err := m.createSessionLocked(req.GetSessionId(), req.GetSession())
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	resp := s.snapshot(false)
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return nil, errs.Internal("create session %s: %v", s.id, err)
	}
	m.kickScheduler()
	return resp, nil
}

// createSessionLocked validates and adds a session, enqueuing its write.
// m.mu must be held.
func (m *Manager) createSessionLocked(id string, spec *flamev1.SessionSpec) (*session, *batch, error) {
	appName := spec.GetApplication()
	if appName == "" {
		return nil, nil, errs.InvalidArgument("session spec names no application")
	}
	if id == "" {
		for id = generateSessionID(appName); m.sessions[id] != nil; id = generateSessionID(appName) {
		}
	} else if err := validateSessionID(id); err != nil {
		return nil, nil, err
	}
	if spec.MaxInstances != nil && spec.GetMinInstances() > spec.GetMaxInstances() {
		return nil, nil, errs.InvalidArgument("session %s: min_instances (%d) is greater than max_instances (%d)", id, spec.GetMinInstances(), spec.GetMaxInstances())
	}
	app, found := m.apps[appName]
	if !found || app.GetStatus().GetState() != flamev1.ApplicationState_Enabled {
		return nil, nil, errs.NotFound("application %s not found; register it first (flmctl app register)", appName)
	}
	if _, dup := m.sessions[id]; dup {
		return nil, nil, errs.AlreadyExists("session %s already exists", id)
	}
	s := &session{
		id:        id,
		spec:      m.resolveSpec(spec),
		state:     flamev1.SessionState_Open,
		created:   m.nowMillis(),
		taskReady: make(chan struct{}),
	}
	m.sessions[id] = s
	return s, m.persist.enqueue(nil, store.PutSession(s.snapshot(true))), nil
}

// OpenSession returns an open session, creating it when a spec is given and
// it does not exist (spec §4.5).
func (m *Manager) OpenSession(ctx context.Context, req *flamev1.OpenSessionRequest) (*flamev1.Session, error) {
	id := req.GetSessionId()
	m.mu.Lock()
	if s, found := m.sessions[id]; found {
		defer m.mu.Unlock()
		if s.state != flamev1.SessionState_Open {
			return nil, errs.InvalidArgument("session %s is not open", id)
		}
		if req.Session != nil {
			if err := specMismatch(id, s.spec, m.resolveSpec(req.Session)); err != nil {
				return nil, err
			}
		}
		return s.snapshot(false), nil
	}
	if req.Session == nil {
		m.mu.Unlock()
		return nil, errs.NotFound("session %s not found", id)
	}
	if id == "" {
		m.mu.Unlock()
		return nil, errs.InvalidArgument("open session: a session id is required")
	}
	s, b, err := m.createSessionLocked(id, req.Session)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	resp := s.snapshot(false)
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return nil, errs.Internal("open session %s: %v", id, err)
	}
	m.kickScheduler()
	return resp, nil
}

// specMismatch compares the fields upstream compares, in its order.
func specMismatch(id string, have, want *flamev1.SessionSpec) error {
	diff := func(field string, expected, got any) error {
		return errs.InvalidArgument("session %s spec mismatch: %s differs (expected %v, got %v)", id, field, expected, got)
	}
	switch {
	case have.GetApplication() != want.GetApplication():
		return diff("application", have.GetApplication(), want.GetApplication())
	case !proto.Equal(have.GetResreq(), want.GetResreq()):
		return diff("resreq", resreqString(have.GetResreq()), resreqString(want.GetResreq()))
	case have.GetMinInstances() != want.GetMinInstances():
		return diff("min_instances", have.GetMinInstances(), want.GetMinInstances())
	case (have.MaxInstances == nil) != (want.MaxInstances == nil) || have.GetMaxInstances() != want.GetMaxInstances():
		return diff("max_instances", maxString(have.MaxInstances), maxString(want.MaxInstances))
	case have.GetPriority() != want.GetPriority():
		return diff("priority", have.GetPriority(), want.GetPriority())
	}
	return nil
}

func resreqString(r *flamev1.ResourceRequirement) string {
	return fmt.Sprintf("cpu=%d,mem=%d,gpu=%d", r.GetCpu(), r.GetMemory(), r.GetGpu())
}

func maxString(v *uint32) string {
	if v == nil {
		return "unlimited"
	}
	return fmt.Sprint(*v)
}

// CloseSession closes a session with no running task; its pending tasks are
// cancelled (spec §4.6, §18.3). Closing a closed session returns it again.
func (m *Manager) CloseSession(ctx context.Context, req *flamev1.CloseSessionRequest) (*flamev1.Session, error) {
	id := req.GetSessionId()
	m.mu.Lock()
	s, found := m.sessions[id]
	if !found {
		m.mu.Unlock()
		return nil, errs.NotFound("session %s not found", id)
	}
	if s.state == flamev1.SessionState_Closed {
		resp := s.snapshot(false)
		m.mu.Unlock()
		return resp, nil
	}
	if n := s.counts[flamev1.TaskState_Running]; n > 0 {
		m.mu.Unlock()
		return nil, errs.FailedPrecondition("session %s has %d running tasks; wait for them to finish, then close it", id, n)
	}
	now := m.nowMillis()
	muts := make([]store.Mutation, 0, 1+s.counts[flamev1.TaskState_Pending])
	type change struct {
		t  *task
		pb *flamev1.Task
	}
	var cancelled []change
	for t := s.popPending(); t != nil; t = s.popPending() {
		pb := withTaskState(t.pb, flamev1.TaskState_Cancelled, nil)
		pb.Status.CompletionTime = &now
		s.setTaskState(t, pb, false)
		cancelled = append(cancelled, change{t, pb})
		muts = append(muts, store.UpdateTask(pb))
	}
	s.pending = taskQueue{}
	s.state = flamev1.SessionState_Closed
	s.completed = now
	broadcast(&s.taskReady) // executors waiting for a task unbind
	muts = append(muts, store.PutSession(s.snapshot(true)))
	resp := s.snapshot(false)
	b := m.persist.enqueue(func() {
		// Cancelled is shown once it is durable, as every end of a task.
		for _, c := range cancelled {
			s.publish(c.t, c.pb)
		}
	}, muts...)
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return nil, errs.Internal("close session %s: %v", id, err)
	}
	m.kickScheduler()
	return resp, nil
}

// GetSession returns one session with its events.
func (m *Manager) GetSession(_ context.Context, req *flamev1.GetSessionRequest) (*flamev1.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, found := m.sessions[req.GetSessionId()]
	if !found {
		return nil, errs.NotFound("session %s not found", req.GetSessionId())
	}
	return s.snapshot(true), nil
}

// ListSession returns every session (open and closed) with its events,
// oldest first.
func (m *Manager) ListSession(context.Context, *flamev1.ListSessionRequest) (*flamev1.SessionList, error) {
	m.mu.Lock()
	list := make([]*flamev1.Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		list = append(list, s.snapshot(true))
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *flamev1.Session) int {
		if c := a.GetStatus().GetCreationTime() - b.GetStatus().GetCreationTime(); c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a.GetMetadata().GetId(), b.GetMetadata().GetId())
	})
	return &flamev1.SessionList{Sessions: list}, nil
}

// DeleteSession removes a closed session whose tasks have all finished.
func (m *Manager) DeleteSession(ctx context.Context, req *flamev1.DeleteSessionRequest) (*flamev1.Session, error) {
	id := req.GetSessionId()
	m.mu.Lock()
	s, found := m.sessions[id]
	if !found {
		m.mu.Unlock()
		return nil, errs.NotFound("session %s not found", id)
	}
	if s.state == flamev1.SessionState_Open {
		m.mu.Unlock()
		return nil, errs.FailedPrecondition("session %s is open; close it before deleting it", id)
	}
	if n := s.counts[flamev1.TaskState_Pending] + s.counts[flamev1.TaskState_Running]; n > 0 {
		m.mu.Unlock()
		return nil, errs.FailedPrecondition("session %s has %d unfinished tasks", id, n)
	}
	resp := s.snapshot(true)
	delete(m.sessions, id)
	b := m.persist.enqueue(nil, store.DeleteSession(id))
	m.mu.Unlock()
	if err := b.wait(ctx); err != nil {
		return nil, errs.Internal("delete session %s: %v", id, err)
	}
	return resp, nil
}
