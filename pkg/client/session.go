package client

import (
	"context"
	"crypto/rand"
	"strconv"
	"sync"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// SessionAttributes describe a session to create.
type SessionAttributes struct {
	Application string
	// ID is the session id; "" makes CreateSession generate "<application>-<6
	// random letters or digits>", as flamepy does.
	ID           string
	CommonData   []byte // nil sends none
	MinInstances uint32
	MaxInstances *uint32 // nil means unlimited
	BatchSize    uint32  // 0 sends 1, the only value servers use
	Priority     uint32  // 0 is the lowest
	// ResReq is what each executor needs; nil leaves the choice to the server.
	ResReq *ResourceRequirement
}

func (a SessionAttributes) spec() *flamev1.SessionSpec {
	spec := &flamev1.SessionSpec{
		Application:  a.Application,
		CommonData:   a.CommonData,
		MinInstances: a.MinInstances,
		MaxInstances: a.MaxInstances,
		BatchSize:    max(a.BatchSize, 1),
		Priority:     a.Priority,
	}
	if a.ResReq != nil {
		spec.Resreq = a.ResReq.Proto()
	}
	return spec
}

// Event is something that happened to a session or task. Task events have the
// code of the state they record (3 = Failed carries the failure message);
// session events use 1001 (bind failed) and 1002 (retry limit reached).
type Event struct {
	Code         int32
	Message      string
	CreationTime time.Time
}

func eventsFromProto(ps []*flamev1.Event) []Event {
	if len(ps) == 0 {
		return nil
	}
	events := make([]Event, len(ps))
	for i, p := range ps {
		events[i] = Event{Code: p.GetCode(), Message: p.GetMessage(), CreationTime: fromMillis(p.GetCreationTime())}
	}
	return events
}

// TaskCounts are the numbers of a session's tasks in each state.
type TaskCounts struct {
	Pending, Running, Succeed, Failed, Cancelled int32
}

// Session is a session as last seen by this client, bound to the connection
// that fetched it. Its methods are safe for concurrent use.
type Session struct {
	conn *Connection
	id   string

	mu    sync.Mutex
	proto *flamev1.Session // last seen; guarded by mu, replaced, never modified
}

func (c *Connection) newSession(id string, p *flamev1.Session) *Session {
	if pid := p.GetMetadata().GetId(); pid != "" {
		id = pid
	}
	return &Session{conn: c, id: id, proto: p}
}

func (s *Session) last() *flamev1.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proto
}

func (s *Session) update(p *flamev1.Session) {
	s.mu.Lock()
	s.proto = p
	s.mu.Unlock()
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Application returns the name of the session's application.
func (s *Session) Application() string { return s.last().GetSpec().GetApplication() }

// State returns the last seen state.
func (s *Session) State() SessionState { return SessionState(s.last().GetStatus().GetState()) }

// CommonData returns the data shared by all tasks of the session, nil if none.
func (s *Session) CommonData() []byte { return s.last().GetSpec().GetCommonData() }

// Counts returns the last seen numbers of tasks per state.
func (s *Session) Counts() TaskCounts {
	st := s.last().GetStatus()
	return TaskCounts{Pending: st.GetPending(), Running: st.GetRunning(), Succeed: st.GetSucceed(), Failed: st.GetFailed(), Cancelled: st.GetCancelled()}
}

// Events returns the last seen session events (only Get and List responses carry them).
func (s *Session) Events() []Event { return eventsFromProto(s.last().GetStatus().GetEvents()) }

// CreationTime returns when the session was created.
func (s *Session) CreationTime() time.Time {
	return fromMillis(s.last().GetStatus().GetCreationTime())
}

// CompletionTime returns when the session was closed; zero while it is open.
func (s *Session) CompletionTime() time.Time {
	return fromMillis(s.last().GetStatus().GetCompletionTime())
}

// Spec returns the session's attributes as the server reports them, with the
// resource requirement it resolved.
func (s *Session) Spec() SessionAttributes {
	spec := s.last().GetSpec()
	if spec == nil {
		spec = &flamev1.SessionSpec{} // for MaxInstances, read directly below
	}
	a := SessionAttributes{
		Application:  spec.GetApplication(),
		ID:           s.id,
		CommonData:   spec.GetCommonData(),
		MinInstances: spec.GetMinInstances(),
		MaxInstances: spec.MaxInstances,
		BatchSize:    spec.GetBatchSize(),
		Priority:     spec.GetPriority(),
	}
	if spec.GetResreq() != nil {
		a.ResReq = new(ResourceRequirementFromProto(spec.GetResreq()))
	}
	return a
}

// Proto returns the session as last received, for printers.
func (s *Session) Proto() *flamev1.Session { return s.last() }

// Refresh fetches the session's current state, counts and events.
func (s *Session) Refresh(ctx context.Context) error {
	p, err := s.conn.frontend.GetSession(ctx, &flamev1.GetSessionRequest{SessionId: s.id})
	if err != nil {
		return s.conn.wrap("get session "+strconv.Quote(s.id), err)
	}
	s.update(p)
	return nil
}

// Close closes the session: its pending tasks are cancelled and it takes no new
// ones. Closing a closed session succeeds. Servers refuse while tasks are
// running (an error matching ErrInvalidState).
func (s *Session) Close(ctx context.Context) error {
	p, err := s.conn.frontend.CloseSession(ctx, &flamev1.CloseSessionRequest{SessionId: s.id})
	if err != nil {
		return s.conn.wrap("close session "+strconv.Quote(s.id), err)
	}
	s.update(p)
	return nil
}

// CreateSession creates a session; attrs.Application is required.
func (c *Connection) CreateSession(ctx context.Context, attrs SessionAttributes) (*Session, error) {
	if attrs.Application == "" {
		return nil, errorf(CodeInvalidArgument, "create session: no application given")
	}
	if attrs.ID == "" {
		attrs.ID = NewSessionID(attrs.Application)
	}
	p, err := c.frontend.CreateSession(ctx, &flamev1.CreateSessionRequest{SessionId: attrs.ID, Session: attrs.spec()})
	if err != nil {
		return nil, c.wrap("create session "+strconv.Quote(attrs.ID), err)
	}
	return c.newSession(attrs.ID, p), nil
}

// OpenSession returns the open session id. With a spec it creates the session
// if it does not exist, and fails with ErrInvalidArgument if it exists with a
// different spec or is closed; with a nil spec it only gets it. spec.ID, if
// set, must equal id.
func (c *Connection) OpenSession(ctx context.Context, id string, spec *SessionAttributes) (*Session, error) {
	op := "open session " + strconv.Quote(id)
	if id == "" {
		return nil, errorf(CodeInvalidArgument, "open session: no session id given")
	}
	req := &flamev1.OpenSessionRequest{SessionId: id}
	if spec != nil {
		if spec.ID != "" && spec.ID != id {
			return nil, errorf(CodeInvalidArgument, "%s: the spec names session %q", op, spec.ID)
		}
		req.Session = spec.spec()
	}
	p, err := c.frontend.OpenSession(ctx, req)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	return c.newSession(id, p), nil
}

// CloseSession closes the session id and returns it; see Session.Close.
func (c *Connection) CloseSession(ctx context.Context, id string) (*Session, error) {
	s := &Session{conn: c, id: id}
	if err := s.Close(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// GetSession returns the session id with its counts and events; an unknown id is
// an error matching ErrNotFound.
func (c *Connection) GetSession(ctx context.Context, id string) (*Session, error) {
	s := &Session{conn: c, id: id}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ListSessions returns all sessions the server keeps, open and closed.
func (c *Connection) ListSessions(ctx context.Context) ([]*Session, error) {
	list, err := c.frontend.ListSession(ctx, &flamev1.ListSessionRequest{})
	if err != nil {
		return nil, c.wrap("list sessions", err)
	}
	sessions := make([]*Session, len(list.GetSessions()))
	for i, p := range list.GetSessions() {
		sessions[i] = c.newSession("", p)
	}
	return sessions, nil
}

// DeleteSession deletes the session id with its tasks and returns it as it was.
// Servers refuse unless it is closed and all its tasks have finished.
func (c *Connection) DeleteSession(ctx context.Context, id string) (*Session, error) {
	p, err := c.frontend.DeleteSession(ctx, &flamev1.DeleteSessionRequest{SessionId: id})
	if err != nil {
		return nil, c.wrap("delete session "+strconv.Quote(id), err)
	}
	return c.newSession(id, p), nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewSessionID returns "<application>-<6 random letters or digits>", the id
// CreateSession uses when none is given.
func NewSessionID(application string) string {
	suffix := make([]byte, 0, 6)
	var buf [16]byte
	for len(suffix) < cap(suffix) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand docs)
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps every character equally likely.
			if b < 248 && len(suffix) < cap(suffix) {
				suffix = append(suffix, idAlphabet[b%62])
			}
		}
	}
	return application + "-" + string(suffix)
}
