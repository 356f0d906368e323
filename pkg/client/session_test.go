package client_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// echoSession answers like a server: the session as requested, Open.
func echoSession(id string, spec *flamev1.SessionSpec) *flamev1.Session {
	return &flamev1.Session{
		Metadata: &flamev1.Metadata{Id: id, Name: id},
		Spec:     spec,
		Status:   &flamev1.SessionStatus{State: flamev1.SessionState_Open, CreationTime: 1700000000000},
	}
}

func TestCreateSession(t *testing.T) {
	var got *flamev1.CreateSessionRequest
	conn := connect(t, &stubFrontend{
		CreateSessionF: func(_ context.Context, r *flamev1.CreateSessionRequest) (*flamev1.Session, error) {
			got = r
			return echoSession(r.SessionId, r.Session), nil
		},
	})
	attrs := client.SessionAttributes{
		Application:  "app",
		ID:           "app-1",
		CommonData:   []byte("common"),
		MinInstances: 1,
		MaxInstances: new(uint32(4)),
		Priority:     3,
		ResReq:       &client.ResourceRequirement{CPU: 2, Memory: 512},
	}
	ssn, err := conn.CreateSession(t.Context(), attrs)
	if err != nil {
		t.Fatal(err)
	}
	want := &flamev1.CreateSessionRequest{SessionId: "app-1", Session: &flamev1.SessionSpec{
		Application:  "app",
		CommonData:   []byte("common"),
		MinInstances: 1,
		MaxInstances: new(uint32(4)),
		BatchSize:    1,
		Priority:     3,
		Resreq:       &flamev1.ResourceRequirement{Cpu: 2, Memory: 512},
	}}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("request (-want +got):\n%s", d)
	}
	attrs.BatchSize = 1
	if d := cmp.Diff(attrs, ssn.Spec()); d != "" {
		t.Errorf("Spec() (-want +got):\n%s", d)
	}
	if ssn.ID() != "app-1" || ssn.Application() != "app" || ssn.State() != client.SessionOpen ||
		string(ssn.CommonData()) != "common" || !ssn.CreationTime().Equal(time.UnixMilli(1700000000000)) ||
		!ssn.CompletionTime().IsZero() || ssn.Events() != nil || ssn.Counts() != (client.TaskCounts{}) {
		t.Errorf("session = %v", ssn.Proto())
	}

	// No id: one is generated. No common data, resreq or max: none is sent.
	ssn, err = conn.CreateSession(t.Context(), client.SessionAttributes{Application: "flmping"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^flmping-[A-Za-z0-9]{6}$`).MatchString(got.SessionId) || ssn.ID() != got.SessionId {
		t.Errorf("generated id %q, session id %q", got.SessionId, ssn.ID())
	}
	spec := got.GetSession()
	if spec.CommonData != nil || spec.Resreq != nil || spec.MaxInstances != nil || spec.BatchSize != 1 {
		t.Errorf("minimal spec = %v", spec)
	}

	if _, err := conn.CreateSession(t.Context(), client.SessionAttributes{}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("CreateSession without application = %v, want ErrInvalidArgument", err)
	}
}

func TestNewSessionID(t *testing.T) {
	re := regexp.MustCompile(`^app-[A-Za-z0-9]{6}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := client.NewSessionID("app")
		if !re.MatchString(id) {
			t.Fatalf("NewSessionID = %q", id)
		}
		seen[id] = true
	}
	if len(seen) < 999 {
		t.Errorf("%d distinct ids of 1000", len(seen))
	}
}

func TestOpenSession(t *testing.T) {
	var got *flamev1.OpenSessionRequest
	conn := connect(t, &stubFrontend{
		OpenSessionF: func(_ context.Context, r *flamev1.OpenSessionRequest) (*flamev1.Session, error) {
			got = r
			if r.Session == nil && r.SessionId == "missing" {
				return nil, status.Error(codes.NotFound, "Session missing not found")
			}
			if r.SessionId == "closed" {
				return nil, status.Error(codes.InvalidArgument, "session closed is not open")
			}
			return echoSession(r.SessionId, r.GetSession()), nil
		},
	})
	ssn, err := conn.OpenSession(t.Context(), "s1", nil)
	if err != nil || ssn.ID() != "s1" || got.Session != nil {
		t.Errorf("OpenSession(s1, nil) = %v, %v; request %v", ssn, err, got)
	}
	ssn, err = conn.OpenSession(t.Context(), "s2", &client.SessionAttributes{Application: "app", MaxInstances: new(uint32(10))})
	if err != nil || ssn.Application() != "app" {
		t.Fatalf("OpenSession(s2, spec) = %v, %v", ssn, err)
	}
	want := &flamev1.OpenSessionRequest{SessionId: "s2", Session: &flamev1.SessionSpec{Application: "app", MaxInstances: new(uint32(10)), BatchSize: 1}}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("request (-want +got):\n%s", d)
	}
	if _, err := conn.OpenSession(t.Context(), "missing", nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("OpenSession(missing) = %v, want ErrNotFound", err)
	}
	_, err = conn.OpenSession(t.Context(), "closed", &client.SessionAttributes{Application: "app"})
	if !errors.Is(err, client.ErrInvalidArgument) || err.Error() != `open session "closed": session closed is not open` {
		t.Errorf("OpenSession(closed) = %v", err)
	}
	got = nil
	if _, err := conn.OpenSession(t.Context(), "", nil); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("OpenSession(\"\") = %v, want ErrInvalidArgument", err)
	}
	if _, err := conn.OpenSession(t.Context(), "a", &client.SessionAttributes{ID: "b"}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("OpenSession with a spec for another id = %v, want ErrInvalidArgument", err)
	}
	if got != nil {
		t.Errorf("an invalid request reached the server: %v", got)
	}
}

func TestGetSession_StatusFields(t *testing.T) {
	conn := connect(t, &stubFrontend{
		GetSessionF: func(_ context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
			if r.SessionId != "s1" {
				return nil, status.Error(codes.NotFound, r.SessionId)
			}
			return &flamev1.Session{
				Metadata: &flamev1.Metadata{Id: "s1", Name: "s1"},
				Spec:     &flamev1.SessionSpec{Application: "app", BatchSize: 1, Resreq: &flamev1.ResourceRequirement{Cpu: 1, Memory: 1 << 30}},
				Status: &flamev1.SessionStatus{
					State: flamev1.SessionState_Closed, CreationTime: 1000, CompletionTime: new(int64(2000)),
					Pending: 1, Running: 2, Succeed: 3, Failed: 4, Cancelled: 5,
					Events: []*flamev1.Event{{Code: 1001, Message: new("failed to bind session"), CreationTime: 1500}},
				},
			}, nil
		},
	})
	ssn, err := conn.GetSession(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.TaskCounts{Pending: 1, Running: 2, Succeed: 3, Failed: 4, Cancelled: 5}); ssn.Counts() != want {
		t.Errorf("Counts() = %+v, want %+v", ssn.Counts(), want)
	}
	wantEvents := []client.Event{{Code: 1001, Message: "failed to bind session", CreationTime: time.UnixMilli(1500)}}
	if d := cmp.Diff(wantEvents, ssn.Events()); d != "" {
		t.Errorf("Events() (-want +got):\n%s", d)
	}
	if ssn.State() != client.SessionClosed || !ssn.CompletionTime().Equal(time.UnixMilli(2000)) || !ssn.CreationTime().Equal(time.UnixMilli(1000)) {
		t.Errorf("state %v, times %v %v", ssn.State(), ssn.CreationTime(), ssn.CompletionTime())
	}
	if ssn.Proto().GetStatus().GetSucceed() != 3 {
		t.Errorf("Proto() = %v", ssn.Proto())
	}
	if r := ssn.Spec().ResReq; r == nil || *r != (client.ResourceRequirement{CPU: 1, Memory: 1 << 30}) {
		t.Errorf("Spec().ResReq = %v", r)
	}
	_, err = conn.GetSession(t.Context(), "x")
	if !errors.Is(err, client.ErrNotFound) || err.Error() != `get session "x": x` {
		t.Errorf("GetSession(x) = %v", err)
	}
}

func TestSession_RefreshAndClose(t *testing.T) {
	state := flamev1.SessionState_Open
	stub := &stubFrontend{
		GetSessionF: func(_ context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
			return sessionProto(r.SessionId, "app", state), nil
		},
		CloseSessionF: func(_ context.Context, r *flamev1.CloseSessionRequest) (*flamev1.Session, error) {
			return sessionProto(r.SessionId, "app", flamev1.SessionState_Closed), nil
		},
	}
	ssn := openSession(t, stub)
	state = flamev1.SessionState_Closed
	if err := ssn.Refresh(t.Context()); err != nil || ssn.State() != client.SessionClosed {
		t.Errorf("after Refresh: %v, %v", ssn.State(), err)
	}
	state = flamev1.SessionState_Open
	_ = ssn.Refresh(t.Context())
	if err := ssn.Close(t.Context()); err != nil || ssn.State() != client.SessionClosed {
		t.Errorf("after Close: %v, %v", ssn.State(), err)
	}
}

func TestCloseListDeleteSession(t *testing.T) {
	var deleted string
	conn := connect(t, &stubFrontend{
		CloseSessionF: func(_ context.Context, r *flamev1.CloseSessionRequest) (*flamev1.Session, error) {
			if r.SessionId == "busy" {
				return nil, status.Error(codes.Internal, "Cannot close session with running tasks")
			}
			return sessionProto(r.SessionId, "app", flamev1.SessionState_Closed), nil
		},
		ListSessionF: func(context.Context, *flamev1.ListSessionRequest) (*flamev1.SessionList, error) {
			return &flamev1.SessionList{Sessions: []*flamev1.Session{
				sessionProto("a", "app1", flamev1.SessionState_Open),
				sessionProto("b", "app2", flamev1.SessionState_Closed),
			}}, nil
		},
		DeleteSessionF: func(_ context.Context, r *flamev1.DeleteSessionRequest) (*flamev1.Session, error) {
			deleted = r.SessionId
			return sessionProto(r.SessionId, "app", flamev1.SessionState_Closed), nil
		},
	})
	ssn, err := conn.CloseSession(t.Context(), "s1")
	if err != nil || ssn.ID() != "s1" || ssn.State() != client.SessionClosed {
		t.Errorf("CloseSession = %v, %v", ssn, err)
	}
	_, err = conn.CloseSession(t.Context(), "busy")
	if !errors.Is(err, client.ErrInvalidState) {
		t.Errorf("CloseSession(busy) = %v, want ErrInvalidState", err)
	}
	list, err := conn.ListSessions(t.Context())
	if err != nil || len(list) != 2 || list[0].ID() != "a" || list[1].Application() != "app2" || list[1].State() != client.SessionClosed {
		t.Errorf("ListSessions = %v, %v", list, err)
	}
	ssn, err = conn.DeleteSession(t.Context(), "old")
	if err != nil || deleted != "old" || ssn.ID() != "old" {
		t.Errorf("DeleteSession = %v, %v (server got %q)", ssn, err, deleted)
	}
}
