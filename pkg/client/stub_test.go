package client_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// stubEndpoint is the endpoint tests connect to; the bufconn dialer ignores it.
const stubEndpoint = "http://bufnet:8080"

// stubFrontend is a Frontend server whose RPCs call the matching func field;
// an unset field answers Unimplemented.
type stubFrontend struct {
	flamev1.UnimplementedFrontendServer

	RegisterApplicationF   func(context.Context, *flamev1.RegisterApplicationRequest) (*flamev1.Result, error)
	UnregisterApplicationF func(context.Context, *flamev1.UnregisterApplicationRequest) (*flamev1.Result, error)
	UpdateApplicationF     func(context.Context, *flamev1.UpdateApplicationRequest) (*flamev1.Result, error)
	GetApplicationF        func(context.Context, *flamev1.GetApplicationRequest) (*flamev1.Application, error)
	ListApplicationF       func(context.Context, *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error)
	ListExecutorF          func(context.Context, *flamev1.ListExecutorRequest) (*flamev1.ExecutorList, error)
	ListNodesF             func(context.Context, *flamev1.ListNodesRequest) (*flamev1.NodeList, error)
	GetNodeF               func(context.Context, *flamev1.GetNodeRequest) (*flamev1.GetNodeResponse, error)
	CreateSessionF         func(context.Context, *flamev1.CreateSessionRequest) (*flamev1.Session, error)
	DeleteSessionF         func(context.Context, *flamev1.DeleteSessionRequest) (*flamev1.Session, error)
	OpenSessionF           func(context.Context, *flamev1.OpenSessionRequest) (*flamev1.Session, error)
	CloseSessionF          func(context.Context, *flamev1.CloseSessionRequest) (*flamev1.Session, error)
	GetSessionF            func(context.Context, *flamev1.GetSessionRequest) (*flamev1.Session, error)
	ListSessionF           func(context.Context, *flamev1.ListSessionRequest) (*flamev1.SessionList, error)
	CreateTaskF            func(context.Context, *flamev1.CreateTaskRequest) (*flamev1.Task, error)
	GetTaskF               func(context.Context, *flamev1.GetTaskRequest) (*flamev1.Task, error)
	WatchTaskF             func(*flamev1.WatchTaskRequest, grpc.ServerStreamingServer[flamev1.Task]) error
	ListTaskF              func(*flamev1.ListTaskRequest, grpc.ServerStreamingServer[flamev1.Task]) error
}

func unary[Req, Resp any](ctx context.Context, req Req, f, fallback func(context.Context, Req) (Resp, error)) (Resp, error) {
	if f == nil {
		return fallback(ctx, req)
	}
	return f(ctx, req)
}

func (s *stubFrontend) RegisterApplication(ctx context.Context, r *flamev1.RegisterApplicationRequest) (*flamev1.Result, error) {
	return unary(ctx, r, s.RegisterApplicationF, s.UnimplementedFrontendServer.RegisterApplication)
}

func (s *stubFrontend) UnregisterApplication(ctx context.Context, r *flamev1.UnregisterApplicationRequest) (*flamev1.Result, error) {
	return unary(ctx, r, s.UnregisterApplicationF, s.UnimplementedFrontendServer.UnregisterApplication)
}

func (s *stubFrontend) UpdateApplication(ctx context.Context, r *flamev1.UpdateApplicationRequest) (*flamev1.Result, error) {
	return unary(ctx, r, s.UpdateApplicationF, s.UnimplementedFrontendServer.UpdateApplication)
}

func (s *stubFrontend) GetApplication(ctx context.Context, r *flamev1.GetApplicationRequest) (*flamev1.Application, error) {
	return unary(ctx, r, s.GetApplicationF, s.UnimplementedFrontendServer.GetApplication)
}

func (s *stubFrontend) ListApplication(ctx context.Context, r *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error) {
	return unary(ctx, r, s.ListApplicationF, s.UnimplementedFrontendServer.ListApplication)
}

func (s *stubFrontend) ListExecutor(ctx context.Context, r *flamev1.ListExecutorRequest) (*flamev1.ExecutorList, error) {
	return unary(ctx, r, s.ListExecutorF, s.UnimplementedFrontendServer.ListExecutor)
}

func (s *stubFrontend) ListNodes(ctx context.Context, r *flamev1.ListNodesRequest) (*flamev1.NodeList, error) {
	return unary(ctx, r, s.ListNodesF, s.UnimplementedFrontendServer.ListNodes)
}

func (s *stubFrontend) GetNode(ctx context.Context, r *flamev1.GetNodeRequest) (*flamev1.GetNodeResponse, error) {
	return unary(ctx, r, s.GetNodeF, s.UnimplementedFrontendServer.GetNode)
}

func (s *stubFrontend) CreateSession(ctx context.Context, r *flamev1.CreateSessionRequest) (*flamev1.Session, error) {
	return unary(ctx, r, s.CreateSessionF, s.UnimplementedFrontendServer.CreateSession)
}

func (s *stubFrontend) DeleteSession(ctx context.Context, r *flamev1.DeleteSessionRequest) (*flamev1.Session, error) {
	return unary(ctx, r, s.DeleteSessionF, s.UnimplementedFrontendServer.DeleteSession)
}

func (s *stubFrontend) OpenSession(ctx context.Context, r *flamev1.OpenSessionRequest) (*flamev1.Session, error) {
	return unary(ctx, r, s.OpenSessionF, s.UnimplementedFrontendServer.OpenSession)
}

func (s *stubFrontend) CloseSession(ctx context.Context, r *flamev1.CloseSessionRequest) (*flamev1.Session, error) {
	return unary(ctx, r, s.CloseSessionF, s.UnimplementedFrontendServer.CloseSession)
}

func (s *stubFrontend) GetSession(ctx context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
	return unary(ctx, r, s.GetSessionF, s.UnimplementedFrontendServer.GetSession)
}

func (s *stubFrontend) ListSession(ctx context.Context, r *flamev1.ListSessionRequest) (*flamev1.SessionList, error) {
	return unary(ctx, r, s.ListSessionF, s.UnimplementedFrontendServer.ListSession)
}

func (s *stubFrontend) CreateTask(ctx context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
	return unary(ctx, r, s.CreateTaskF, s.UnimplementedFrontendServer.CreateTask)
}

func (s *stubFrontend) GetTask(ctx context.Context, r *flamev1.GetTaskRequest) (*flamev1.Task, error) {
	return unary(ctx, r, s.GetTaskF, s.UnimplementedFrontendServer.GetTask)
}

func (s *stubFrontend) WatchTask(r *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
	if s.WatchTaskF == nil {
		return s.UnimplementedFrontendServer.WatchTask(r, st)
	}
	return s.WatchTaskF(r, st)
}

func (s *stubFrontend) ListTask(r *flamev1.ListTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
	if s.ListTaskF == nil {
		return s.UnimplementedFrontendServer.ListTask(r, st)
	}
	return s.ListTaskF(r, st)
}

// serveStub serves stub on an in-memory listener. It returns the option that
// dials it and a function that stops the server.
func serveStub(stub *stubFrontend) (client.ConnectOption, func()) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(client.MaxMessageSize))
	flamev1.RegisterFrontendServer(srv, stub)
	go func() { _ = srv.Serve(lis) }()
	dial := client.WithDialOptions(
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	return dial, srv.Stop
}

// connect serves stub and returns a connection to it; both end with the test.
// Unless the test set GetSessionF, GetSession answers every id with an open
// session of application "app".
func connect(t *testing.T, stub *stubFrontend, opts ...client.ConnectOption) *client.Connection {
	t.Helper()
	if stub.GetSessionF == nil {
		stub.GetSessionF = func(_ context.Context, r *flamev1.GetSessionRequest) (*flamev1.Session, error) {
			return sessionProto(r.SessionId, "app", flamev1.SessionState_Open), nil
		}
	}
	dial, stop := serveStub(stub)
	t.Cleanup(stop)
	conn, err := client.Connect(t.Context(), stubEndpoint, append([]client.ConnectOption{dial}, opts...)...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// getSession returns the session id of conn.
func getSession(t *testing.T, conn *client.Connection, id string) *client.Session {
	t.Helper()
	ssn, err := conn.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", id, err)
	}
	return ssn
}

// openSession connects to stub and returns its session "s1".
func openSession(t *testing.T, stub *stubFrontend, opts ...client.ConnectOption) *client.Session {
	t.Helper()
	return getSession(t, connect(t, stub, opts...), "s1")
}

func sessionProto(id, app string, state flamev1.SessionState) *flamev1.Session {
	return &flamev1.Session{
		Metadata: &flamev1.Metadata{Id: id, Name: id},
		Spec:     &flamev1.SessionSpec{Application: app, BatchSize: 1},
		Status:   &flamev1.SessionStatus{State: state, CreationTime: 1700000000000},
	}
}

func taskProto(ssn, id string, state flamev1.TaskState, output []byte, events ...*flamev1.Event) *flamev1.Task {
	return &flamev1.Task{
		Metadata: &flamev1.Metadata{Id: id, Name: id},
		Spec:     &flamev1.TaskSpec{SessionId: ssn, Output: output},
		Status:   &flamev1.TaskStatus{State: state, CreationTime: 1700000000000, Events: events},
	}
}
