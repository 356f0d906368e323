package sessionmgr

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/flmctl/flmctl/internal/server/errs"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

var _ flamev1.FrontendServer = (*Manager)(nil)

// RegisterFrontend registers the Frontend service on s.
func (m *Manager) RegisterFrontend(s grpc.ServiceRegistrar) { flamev1.RegisterFrontendServer(s, m) }

// RegisterBackend registers the Backend service (for executor managers on
// other machines) on s.
func (m *Manager) RegisterBackend(s grpc.ServiceRegistrar) {
	flamev1.RegisterBackendServer(s, &backendServer{m: m})
}

// ServerOptions returns the gRPC server options the manager's services
// expect: errors converted to their upstream codes in one place.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			return resp, errs.ToStatus(err)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return errs.ToStatus(h(srv, ss))
		}),
	}
}

// backendServer serves flame.v1.Backend over gRPC on top of the manager's
// in-process executor contract.
type backendServer struct {
	flamev1.UnimplementedBackendServer
	m *Manager
}

var okResult = &flamev1.Result{}

func result(err error) (*flamev1.Result, error) {
	if err != nil {
		return nil, err
	}
	return okResult, nil
}

func (b *backendServer) RegisterNode(ctx context.Context, req *flamev1.RegisterNodeRequest) (*flamev1.Result, error) {
	return result(b.m.RegisterNode(ctx, req.GetNode(), req.GetExecutors()))
}

func (b *backendServer) ReleaseNode(ctx context.Context, req *flamev1.ReleaseNodeRequest) (*flamev1.Result, error) {
	return result(b.m.ReleaseNode(ctx, req.GetNodeName()))
}

// SyncNode is the deprecated polling variant of WatchNode: it records the
// node and returns the executors the manager has on it.
func (b *backendServer) SyncNode(ctx context.Context, req *flamev1.SyncNodeRequest) (*flamev1.SyncNodeResponse, error) {
	if err := b.m.RegisterNode(ctx, req.GetNode(), req.GetExecutors()); err != nil {
		return nil, err
	}
	name := req.GetNode().GetMetadata().GetName()
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	nd := b.m.nodes[name]
	nd.outbox = nil // delivered by this reply
	resp := &flamev1.SyncNodeResponse{Node: nd.pb}
	for _, e := range b.m.executors {
		if e.node == name {
			resp.Executors = append(resp.Executors, e.message())
		}
	}
	sortByID(resp.Executors)
	return resp, nil
}

// heartbeatTimeout ends a WatchNode stream whose node went silent.
const heartbeatTimeout = 15 * time.Second

// WatchNode: the first heartbeat names the node; executors are streamed to
// it and every heartbeat is acknowledged (spec §6.1).
func (b *backendServer) WatchNode(stream grpc.BidiStreamingServer[flamev1.WatchNodeRequest, flamev1.WatchNodeResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	name := first.GetHeartbeat().GetNodeName()
	if name == "" {
		return errs.InvalidArgument("the first WatchNode message must be a heartbeat naming the node")
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)

	var sendMu sync.Mutex
	send := func(r *flamev1.WatchNodeResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(r)
	}
	ack := func() error {
		return send(&flamev1.WatchNodeResponse{Response: &flamev1.WatchNodeResponse_Ack{Ack: &flamev1.Acknowledgement{Timestamp: time.Now().Unix()}}})
	}

	var statusMu sync.Mutex
	latest := first.GetHeartbeat().GetStatus()
	status := func() *flamev1.NodeStatus {
		statusMu.Lock()
		defer statusMu.Unlock()
		return latest
	}
	heartbeats := make(chan struct{}, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("node closed its watch")
				}
				cancel(err)
				return
			}
			statusMu.Lock()
			latest = req.GetHeartbeat().GetStatus()
			statusMu.Unlock()
			select {
			case heartbeats <- struct{}{}:
			default:
			}
			if err := ack(); err != nil {
				cancel(err)
				return
			}
		}
	}()
	go func() {
		t := time.NewTimer(heartbeatTimeout)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-heartbeats:
				t.Reset(heartbeatTimeout)
			case <-t.C:
				cancel(errs.Unavailable("node %s sent no heartbeat for %s", name, heartbeatTimeout))
				return
			}
		}
	}()
	b.m.updateNodeStatusByName(name, latest)
	if err := ack(); err != nil {
		return err
	}
	err = b.m.WatchNode(ctx, name, status, func(e *flamev1.Executor) error {
		return send(&flamev1.WatchNodeResponse{Response: &flamev1.WatchNodeResponse_Executor{Executor: e}})
	})
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && stream.Context().Err() == nil {
		return cause
	}
	return err
}

func (m *Manager) updateNodeStatusByName(name string, st *flamev1.NodeStatus) {
	m.mu.Lock()
	nd := m.nodes[name]
	m.mu.Unlock()
	if nd != nil {
		m.updateNodeStatus(nd, st)
	}
}

func (b *backendServer) RegisterExecutor(ctx context.Context, req *flamev1.RegisterExecutorRequest) (*flamev1.Result, error) {
	return result(b.m.RegisterExecutor(ctx, req.GetExecutorId(), req.GetExecutorSpec()))
}

func (b *backendServer) UnregisterExecutor(ctx context.Context, req *flamev1.UnregisterExecutorRequest) (*flamev1.Result, error) {
	return result(b.m.UnregisterExecutor(ctx, req.GetExecutorId()))
}

func (b *backendServer) BindExecutor(ctx context.Context, req *flamev1.BindExecutorRequest) (*flamev1.BindExecutorResponse, error) {
	app, ssn, err := b.m.BindExecutor(ctx, req.GetExecutorId())
	if err != nil {
		return nil, err
	}
	return &flamev1.BindExecutorResponse{Application: app, Session: ssn}, nil
}

func (b *backendServer) BindExecutorCompleted(ctx context.Context, req *flamev1.BindExecutorCompletedRequest) (*flamev1.Result, error) {
	return result(b.m.BindExecutorCompleted(ctx, req.GetExecutorId(), req.GetResult()))
}

func (b *backendServer) UnbindExecutor(ctx context.Context, req *flamev1.UnbindExecutorRequest) (*flamev1.Result, error) {
	return result(b.m.UnbindExecutor(ctx, req.GetExecutorId(), nil))
}

func (b *backendServer) UnbindExecutorCompleted(ctx context.Context, req *flamev1.UnbindExecutorCompletedRequest) (*flamev1.Result, error) {
	return result(b.m.UnbindExecutorCompleted(ctx, req.GetExecutorId()))
}

func (b *backendServer) LaunchTask(ctx context.Context, req *flamev1.LaunchTaskRequest) (*flamev1.LaunchTaskResponse, error) {
	t, err := b.m.LaunchTask(ctx, req.GetExecutorId())
	if err != nil {
		return nil, err
	}
	return &flamev1.LaunchTaskResponse{Task: t}, nil
}

func (b *backendServer) CompleteTask(ctx context.Context, req *flamev1.CompleteTaskRequest) (*flamev1.Result, error) {
	return result(b.m.CompleteTask(ctx, req.GetExecutorId(), req.GetTaskResult()))
}
