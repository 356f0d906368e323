package executor

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// stubBackend is a flame.v1.Backend server whose RPCs are func fields
// (R21); an unset field answers Unimplemented.
type stubBackend struct {
	flamev1.UnimplementedBackendServer
	RegisterNodeF            func(context.Context, *flamev1.RegisterNodeRequest) (*flamev1.Result, error)
	WatchNodeF               func(grpc.BidiStreamingServer[flamev1.WatchNodeRequest, flamev1.WatchNodeResponse]) error
	RegisterExecutorF        func(context.Context, *flamev1.RegisterExecutorRequest) (*flamev1.Result, error)
	UnregisterExecutorF      func(context.Context, *flamev1.UnregisterExecutorRequest) (*flamev1.Result, error)
	BindExecutorF            func(context.Context, *flamev1.BindExecutorRequest) (*flamev1.BindExecutorResponse, error)
	BindExecutorCompletedF   func(context.Context, *flamev1.BindExecutorCompletedRequest) (*flamev1.Result, error)
	UnbindExecutorF          func(context.Context, *flamev1.UnbindExecutorRequest) (*flamev1.Result, error)
	UnbindExecutorCompletedF func(context.Context, *flamev1.UnbindExecutorCompletedRequest) (*flamev1.Result, error)
	LaunchTaskF              func(context.Context, *flamev1.LaunchTaskRequest) (*flamev1.LaunchTaskResponse, error)
	CompleteTaskF            func(context.Context, *flamev1.CompleteTaskRequest) (*flamev1.Result, error)
}

var errUnset = status.Error(codes.Unimplemented, "not stubbed")

func (s *stubBackend) RegisterNode(ctx context.Context, r *flamev1.RegisterNodeRequest) (*flamev1.Result, error) {
	if s.RegisterNodeF == nil {
		return nil, errUnset
	}
	return s.RegisterNodeF(ctx, r)
}

func (s *stubBackend) WatchNode(st grpc.BidiStreamingServer[flamev1.WatchNodeRequest, flamev1.WatchNodeResponse]) error {
	if s.WatchNodeF == nil {
		return errUnset
	}
	return s.WatchNodeF(st)
}

func (s *stubBackend) RegisterExecutor(ctx context.Context, r *flamev1.RegisterExecutorRequest) (*flamev1.Result, error) {
	if s.RegisterExecutorF == nil {
		return nil, errUnset
	}
	return s.RegisterExecutorF(ctx, r)
}

func (s *stubBackend) UnregisterExecutor(ctx context.Context, r *flamev1.UnregisterExecutorRequest) (*flamev1.Result, error) {
	if s.UnregisterExecutorF == nil {
		return nil, errUnset
	}
	return s.UnregisterExecutorF(ctx, r)
}

func (s *stubBackend) BindExecutor(ctx context.Context, r *flamev1.BindExecutorRequest) (*flamev1.BindExecutorResponse, error) {
	if s.BindExecutorF == nil {
		return nil, errUnset
	}
	return s.BindExecutorF(ctx, r)
}

func (s *stubBackend) BindExecutorCompleted(ctx context.Context, r *flamev1.BindExecutorCompletedRequest) (*flamev1.Result, error) {
	if s.BindExecutorCompletedF == nil {
		return nil, errUnset
	}
	return s.BindExecutorCompletedF(ctx, r)
}

func (s *stubBackend) UnbindExecutor(ctx context.Context, r *flamev1.UnbindExecutorRequest) (*flamev1.Result, error) {
	if s.UnbindExecutorF == nil {
		return nil, errUnset
	}
	return s.UnbindExecutorF(ctx, r)
}

func (s *stubBackend) UnbindExecutorCompleted(ctx context.Context, r *flamev1.UnbindExecutorCompletedRequest) (*flamev1.Result, error) {
	if s.UnbindExecutorCompletedF == nil {
		return nil, errUnset
	}
	return s.UnbindExecutorCompletedF(ctx, r)
}

func (s *stubBackend) LaunchTask(ctx context.Context, r *flamev1.LaunchTaskRequest) (*flamev1.LaunchTaskResponse, error) {
	if s.LaunchTaskF == nil {
		return nil, errUnset
	}
	return s.LaunchTaskF(ctx, r)
}

func (s *stubBackend) CompleteTask(ctx context.Context, r *flamev1.CompleteTaskRequest) (*flamev1.Result, error) {
	if s.CompleteTaskF == nil {
		return nil, errUnset
	}
	return s.CompleteTaskF(ctx, r)
}

// startStub serves s over bufconn and returns a gRPC Backend on it; the
// returned *grpcBackend lets tests shorten its timers.
func startStub(t *testing.T, s *stubBackend) *grpcBackend {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	flamev1.RegisterBackendServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return NewGRPCBackend(flamev1.NewBackendClient(conn)).(*grpcBackend)
}

var ok0 = &flamev1.Result{}

func TestGRPCBackend_Unary(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []proto.Message
	)
	rec := func(m proto.Message) {
		mu.Lock()
		reqs = append(reqs, m)
		mu.Unlock()
	}
	app := &flamev1.Application{Metadata: &flamev1.Metadata{Name: "app"}}
	ssn := &flamev1.Session{Metadata: &flamev1.Metadata{Id: "s1"}, Spec: &flamev1.SessionSpec{CommonData: []byte("cd")}}
	task := &flamev1.Task{Metadata: &flamev1.Metadata{Id: "7"}, Spec: &flamev1.TaskSpec{SessionId: "s1", Input: []byte("in")}}
	bindReplies := []*flamev1.BindExecutorResponse{{Application: app, Session: ssn}, {}, {Session: ssn}}
	b := startStub(t, &stubBackend{
		RegisterNodeF: func(_ context.Context, r *flamev1.RegisterNodeRequest) (*flamev1.Result, error) {
			rec(r)
			return ok0, nil
		},
		RegisterExecutorF: func(_ context.Context, r *flamev1.RegisterExecutorRequest) (*flamev1.Result, error) {
			rec(r)
			return ok0, nil
		},
		BindExecutorF: func(_ context.Context, r *flamev1.BindExecutorRequest) (*flamev1.BindExecutorResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			reply := bindReplies[0]
			bindReplies = bindReplies[1:]
			return reply, nil
		},
		BindExecutorCompletedF: func(_ context.Context, r *flamev1.BindExecutorCompletedRequest) (*flamev1.Result, error) {
			rec(r)
			return ok0, nil
		},
		LaunchTaskF: func(_ context.Context, r *flamev1.LaunchTaskRequest) (*flamev1.LaunchTaskResponse, error) {
			if r.GetExecutorId() == "empty" {
				return &flamev1.LaunchTaskResponse{}, nil
			}
			return &flamev1.LaunchTaskResponse{Task: task}, nil
		},
		CompleteTaskF: func(_ context.Context, r *flamev1.CompleteTaskRequest) (*flamev1.Result, error) {
			rec(r)
			return ok0, nil
		},
		UnbindExecutorF: func(_ context.Context, r *flamev1.UnbindExecutorRequest) (*flamev1.Result, error) {
			rec(r)
			return ok0, nil
		},
		UnbindExecutorCompletedF: func(_ context.Context, r *flamev1.UnbindExecutorCompletedRequest) (*flamev1.Result, error) {
			rec(r)
			return ok0, nil
		},
		UnregisterExecutorF: func(_ context.Context, r *flamev1.UnregisterExecutorRequest) (*flamev1.Result, error) {
			if r.GetExecutorId() == "ghost" {
				return nil, status.Error(codes.NotFound, "executor ghost not found")
			}
			if r.GetExecutorId() == "odd" {
				return &flamev1.Result{ReturnCode: 5, Message: proto.String("odd")}, nil
			}
			rec(r)
			return ok0, nil
		},
	})
	ctx := context.Background()
	node := &flamev1.Node{Metadata: &flamev1.Metadata{Name: "n1"}}
	spec := &flamev1.ExecutorSpec{Node: "n1", Shim: flamev1.Shim_Host}
	res := &flamev1.Result{ReturnCode: 12, Message: proto.String("on_session_enter failed: x")}
	tres := &flamev1.TaskResult{ReturnCode: -1, Message: proto.String("boom")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.RegisterNode(ctx, node, nil))
	must(b.RegisterExecutor(ctx, "e1", spec))
	gotApp, gotSsn, err := b.BindExecutor(ctx, "e1")
	if err != nil || !proto.Equal(gotApp, app) || !proto.Equal(gotSsn, ssn) {
		t.Errorf("BindExecutor = %v, %v, %v", gotApp, gotSsn, err)
	}
	if a, s, err := b.BindExecutor(ctx, "e1"); a != nil || s != nil || err != nil {
		t.Errorf("empty BindExecutor = %v, %v, %v; want all nil (release)", a, s, err)
	}
	if _, _, err := b.BindExecutor(ctx, "e1"); err == nil {
		t.Error("BindExecutor with a session and no application succeeded")
	}
	must(b.BindExecutorCompleted(ctx, "e1", res))
	if got, err := b.LaunchTask(ctx, "e1"); err != nil || !proto.Equal(got, task) {
		t.Errorf("LaunchTask = %v, %v", got, err)
	}
	if got, err := b.LaunchTask(ctx, "empty"); err != nil || got != nil {
		t.Errorf("empty LaunchTask = %v, %v; want nil task", got, err)
	}
	must(b.CompleteTask(ctx, "e1", tres))
	must(b.UnbindExecutor(ctx, "e1", errors.New("dropped")))
	must(b.UnbindExecutorCompleted(ctx, "e1"))
	must(b.UnregisterExecutor(ctx, "e1"))
	if err := b.UnregisterExecutor(ctx, "ghost"); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "unregister executor ghost") {
		t.Errorf("NotFound error = %v (code %s); want the code kept and the call named", err, status.Code(err))
	}
	if err := b.UnregisterExecutor(ctx, "odd"); err == nil || !strings.Contains(err.Error(), "code 5") {
		t.Errorf("non-zero Result = %v", err)
	}

	want := []proto.Message{
		&flamev1.RegisterNodeRequest{Node: node},
		&flamev1.RegisterExecutorRequest{ExecutorId: "e1", ExecutorSpec: spec},
		&flamev1.BindExecutorCompletedRequest{ExecutorId: "e1", Result: res},
		&flamev1.CompleteTaskRequest{ExecutorId: "e1", TaskResult: tres},
		&flamev1.UnbindExecutorRequest{ExecutorId: "e1"},
		&flamev1.UnbindExecutorCompletedRequest{ExecutorId: "e1"},
		&flamev1.UnregisterExecutorRequest{ExecutorId: "e1"},
	}
	if diff := cmp.Diff(want, reqs, protocmp.Transform()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestGRPCBackend_WatchNode(t *testing.T) {
	x := &flamev1.Executor{Metadata: &flamev1.Metadata{Id: "e1"}, Status: &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorVoid}}
	beats := make(chan *flamev1.NodeHeartbeat, 16)
	b := startStub(t, &stubBackend{
		WatchNodeF: func(st grpc.BidiStreamingServer[flamev1.WatchNodeRequest, flamev1.WatchNodeResponse]) error {
			for {
				req, err := st.Recv()
				if err != nil {
					return err
				}
				beats <- req.GetHeartbeat()
				if err := st.Send(&flamev1.WatchNodeResponse{Response: &flamev1.WatchNodeResponse_Ack{Ack: &flamev1.Acknowledgement{Timestamp: 1}}}); err != nil {
					return err
				}
				if err := st.Send(&flamev1.WatchNodeResponse{Response: &flamev1.WatchNodeResponse_Executor{Executor: x}}); err != nil {
					return err
				}
			}
		},
	})
	b.heartbeat = 20 * time.Millisecond
	statusCalls := 0
	statusFn := func() *flamev1.NodeStatus {
		statusCalls++
		return &flamev1.NodeStatus{State: flamev1.NodeState_Ready, Capacity: &flamev1.ResourceRequirement{Cpu: 4}}
	}
	got := make(chan *flamev1.Executor, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.WatchNode(ctx, "n1", statusFn, func(e *flamev1.Executor) { got <- e }) }()

	// The first heartbeat goes out at once, the next ones on the ticker.
	for i := range 3 {
		hb := <-beats
		if hb.GetNodeName() != "n1" || hb.GetStatus().GetCapacity().GetCpu() != 4 {
			t.Errorf("heartbeat %d = %v", i, hb)
		}
		if e := <-got; !proto.Equal(e, x) {
			t.Errorf("delivered %v, want %v", e, x)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchNode after cancel = %v", err)
	}
	if statusCalls < 3 {
		t.Errorf("status called %d times, want one per heartbeat", statusCalls)
	}
}

func TestGRPCBackend_WatchNodeEnds(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	b := startStub(t, &stubBackend{
		WatchNodeF: func(st grpc.BidiStreamingServer[flamev1.WatchNodeRequest, flamev1.WatchNodeResponse]) error {
			req, err := st.Recv()
			if err != nil {
				return err
			}
			if req.GetHeartbeat().GetNodeName() == "unknown" {
				return status.Error(codes.NotFound, "node unknown is not registered")
			}
			select { // silent: no ack
			case <-st.Context().Done():
			case <-release:
			}
			return nil
		},
	})
	b.heartbeat = time.Hour
	b.silence = 100 * time.Millisecond
	status := func() *flamev1.NodeStatus { return &flamev1.NodeStatus{} }
	start := time.Now()
	err := b.WatchNode(context.Background(), "quiet", status, func(*flamev1.Executor) { t.Error("unexpected delivery") })
	if !errors.Is(err, errWatchSilent) || time.Since(start) < b.silence {
		t.Errorf("silent stream: %v after %s", err, time.Since(start))
	}
	err = b.WatchNode(context.Background(), "unknown", status, func(*flamev1.Executor) {})
	if err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("stream ended by the server: %v", err)
	}
}

// TestManager_OverGRPC runs the manager against a stub session manager
// over gRPC: the first watch breaks, the manager registers again after the
// back-off, the second watch delivers an executor that registers and then
// is released.
func TestManager_OverGRPC(t *testing.T) {
	var (
		mu        sync.Mutex
		registers []*flamev1.RegisterNodeRequest
		watches   int
		calls     []string
	)
	note := func(s string) {
		mu.Lock()
		calls = append(calls, s)
		mu.Unlock()
	}
	unregistered := make(chan struct{})
	b := startStub(t, &stubBackend{
		RegisterNodeF: func(_ context.Context, r *flamev1.RegisterNodeRequest) (*flamev1.Result, error) {
			mu.Lock()
			registers = append(registers, r)
			mu.Unlock()
			return ok0, nil
		},
		WatchNodeF: func(st grpc.BidiStreamingServer[flamev1.WatchNodeRequest, flamev1.WatchNodeResponse]) error {
			if _, err := st.Recv(); err != nil {
				return err
			}
			mu.Lock()
			watches++
			n := watches
			mu.Unlock()
			if n == 1 {
				return status.Error(codes.Unavailable, "going away")
			}
			x := &flamev1.Executor{
				Metadata: &flamev1.Metadata{Id: "e1"},
				Spec:     &flamev1.ExecutorSpec{Node: "n1", Resreq: &flamev1.ResourceRequirement{Cpu: 1}},
				Status:   &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorVoid},
			}
			if err := st.Send(&flamev1.WatchNodeResponse{Response: &flamev1.WatchNodeResponse_Executor{Executor: x}}); err != nil {
				return err
			}
			<-st.Context().Done()
			return nil
		},
		RegisterExecutorF: func(_ context.Context, r *flamev1.RegisterExecutorRequest) (*flamev1.Result, error) {
			note("RegisterExecutor " + r.GetExecutorId() + " " + r.GetExecutorSpec().GetNode())
			return ok0, nil
		},
		BindExecutorF: func(_ context.Context, r *flamev1.BindExecutorRequest) (*flamev1.BindExecutorResponse, error) {
			note("BindExecutor " + r.GetExecutorId())
			return &flamev1.BindExecutorResponse{}, nil
		},
		UnregisterExecutorF: func(_ context.Context, r *flamev1.UnregisterExecutorRequest) (*flamev1.Result, error) {
			note("UnregisterExecutor " + r.GetExecutorId())
			close(unregistered)
			return ok0, nil
		},
	})
	m, err := New(Options{Backend: b, NodeName: "n1", SocketDir: shortTempDir(t), WorkDir: shortTempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	m.reconnectMin = 10 * time.Millisecond
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	select {
	case <-unregistered:
	case <-time.After(waitLong):
		t.Fatal("executor never unregistered")
	}
	checkFor(t, waitLong, 5*time.Millisecond, forgotten(m, "e1"))
	m.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(registers) != 2 || registers[0].GetNode().GetMetadata().GetName() != "n1" {
		t.Errorf("RegisterNode calls = %v, want 2 for node n1", registers)
	}
	if diff := cmp.Diff([]string{"RegisterExecutor e1 n1", "BindExecutor e1", "UnregisterExecutor e1"}, calls); diff != "" {
		t.Errorf("executor calls (-want +got):\n%s", diff)
	}
}
