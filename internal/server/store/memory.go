package store

import (
	"cmp"
	"context"
	"slices"
	"sync"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/protobuf/proto"
)

// Memory is a Store that keeps everything in maps and forgets it when the
// process exits. It is NOT durable: it backs `--storage none`, tests and
// benchmarks. Commit applies the mutations before it returns; there is no
// queue, so Wait never blocks.
type Memory struct {
	mu sync.Mutex // guards every field below

	closed   bool
	apps     map[string]*flamev1.Application
	sessions map[string]*flamev1.Session
	// tasks maps a session ID to that session's tasks by numeric task ID.
	// It may hold sessions that are not in sessions (see CreateTask).
	tasks map[string]map[uint32]*flamev1.Task
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		apps:     make(map[string]*flamev1.Application),
		sessions: make(map[string]*flamev1.Session),
		tasks:    make(map[string]map[uint32]*flamev1.Task),
	}
}

// Load returns clones of everything stored, ordered as State documents.
func (s *Memory) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	st := &State{
		Applications: make([]*flamev1.Application, 0, len(s.apps)),
		Sessions:     make([]*flamev1.Session, 0, len(s.sessions)),
	}
	for _, name := range sortedKeys(s.apps) {
		st.Applications = append(st.Applications, proto.CloneOf(s.apps[name]))
	}
	for _, id := range sortedKeys(s.sessions) {
		st.Sessions = append(st.Sessions, proto.CloneOf(s.sessions[id]))
	}
	for _, sid := range sortedKeys(s.tasks) {
		byID := s.tasks[sid]
		for _, tid := range sortedKeys(byID) {
			st.Tasks = append(st.Tasks, proto.CloneOf(byID[tid]))
		}
	}
	return st, nil
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Enqueue applies muts at once and returns a Pending that is already
// resolved.
func (s *Memory) Enqueue(muts ...Mutation) *Pending {
	return resolved(s.apply(muts))
}

// Commit applies muts before it returns. If ctx is already done it returns
// ctx's error and applies nothing.
func (s *Memory) Commit(ctx context.Context, muts ...Mutation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.apply(muts)
}

// apply validates every mutation first, so a call is all or nothing, then
// applies them in order.
func (s *Memory) apply(muts []Mutation) error {
	ids := make([]uint32, len(muts))
	for i, m := range muts {
		id, err := m.check()
		if err != nil {
			return err
		}
		ids[i] = id
	}
	// Clone outside the lock: it is the expensive part.
	clones := make([]proto.Message, len(muts))
	for i, m := range muts {
		switch m.kind {
		case kindPutApplication:
			clones[i] = proto.CloneOf(m.app)
		case kindPutSession:
			clones[i] = proto.CloneOf(m.session)
		case kindCreateTask:
			clones[i] = proto.CloneOf(m.task)
		case kindUpdateTask:
			clones[i] = proto.CloneOf(withoutInput(m.task))
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for i, m := range muts {
		switch m.kind {
		case kindPutApplication:
			app := clones[i].(*flamev1.Application)
			s.apps[app.GetMetadata().GetName()] = app
		case kindDeleteApplication:
			delete(s.apps, m.id)
			for id, ssn := range s.sessions {
				if ssn.GetSpec().GetApplication() == m.id {
					delete(s.sessions, id)
					delete(s.tasks, id)
				}
			}
		case kindPutSession:
			ssn := clones[i].(*flamev1.Session)
			s.sessions[ssn.GetMetadata().GetId()] = ssn
		case kindDeleteSession:
			delete(s.sessions, m.id)
			delete(s.tasks, m.id)
		case kindCreateTask:
			task := clones[i].(*flamev1.Task)
			sid := task.GetSpec().GetSessionId()
			byID := s.tasks[sid]
			if byID == nil {
				byID = make(map[uint32]*flamev1.Task)
				s.tasks[sid] = byID
			}
			byID[ids[i]] = task
		case kindUpdateTask:
			task := clones[i].(*flamev1.Task)
			byID := s.tasks[task.GetSpec().GetSessionId()]
			old, ok := byID[ids[i]]
			if !ok {
				continue
			}
			// Stored messages are never modified, so the new record
			// may share the old input.
			task.Spec.Input = old.GetSpec().Input
			byID[ids[i]] = task
		}
	}
	return nil
}

// Close makes every later call return ErrClosed and drops the data.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.apps, s.sessions, s.tasks = nil, nil, nil
	return nil
}

// withoutInput returns a message that shares everything with t except
// Spec.Input, which it leaves absent. The result is for reading only
// (marshalling or cloning): it aliases t's sub-messages.
func withoutInput(t *flamev1.Task) *flamev1.Task {
	spec := t.GetSpec()
	ns := &flamev1.TaskSpec{SessionId: spec.GetSessionId(), Output: spec.GetOutput()}
	if u := spec.ProtoReflect().GetUnknown(); len(u) > 0 {
		ns.ProtoReflect().SetUnknown(u)
	}
	nt := &flamev1.Task{Metadata: t.GetMetadata(), Spec: ns, Status: t.GetStatus()}
	if u := t.ProtoReflect().GetUnknown(); len(u) > 0 {
		nt.ProtoReflect().SetUnknown(u)
	}
	return nt
}
