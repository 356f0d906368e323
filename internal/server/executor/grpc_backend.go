package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Upstream's WatchNode timing (spec §6.1).
const (
	defaultHeartbeatInterval = 5 * time.Second
	defaultWatchSilence      = 30 * time.Second
)

// grpcBackend implements Backend over the flame.v1.Backend service.
type grpcBackend struct {
	c flamev1.BackendClient
	// heartbeat is the interval between heartbeats on WatchNode.
	heartbeat time.Duration
	// silence is how long WatchNode waits for any message before it declares
	// the stream dead.
	silence time.Duration
}

// NewGRPCBackend returns a Backend that calls the flame.v1.Backend service
// through c: a remote session manager (upstream's or ours), or the local one
// over a real connection. WatchNode sends a heartbeat at once and every 5 s
// and gives up on the stream after 30 s without a message (spec §6.1). The
// cause of UnbindExecutor is not sent: the wire has no field for it.
func NewGRPCBackend(c flamev1.BackendClient) Backend {
	return &grpcBackend{c: c, heartbeat: defaultHeartbeatInterval, silence: defaultWatchSilence}
}

// checkResult turns a Result with a non-zero code into an error. Upstream's
// Backend RPCs answer failures with gRPC errors and success with
// Result{0}, so this only guards against a misbehaving server.
func checkResult(op string, r *flamev1.Result, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if rc := r.GetReturnCode(); rc != 0 {
		return status.Errorf(codes.Unknown, "%s: session manager returned code %d: %s", op, rc, r.GetMessage())
	}
	return nil
}

func (b *grpcBackend) RegisterNode(ctx context.Context, node *flamev1.Node, executors []*flamev1.Executor) error {
	r, err := b.c.RegisterNode(ctx, &flamev1.RegisterNodeRequest{Node: node, Executors: executors})
	return checkResult("register node "+node.GetMetadata().GetName(), r, err)
}

func (b *grpcBackend) RegisterExecutor(ctx context.Context, id string, spec *flamev1.ExecutorSpec) error {
	r, err := b.c.RegisterExecutor(ctx, &flamev1.RegisterExecutorRequest{ExecutorId: id, ExecutorSpec: spec})
	return checkResult("register executor "+id, r, err)
}

func (b *grpcBackend) BindExecutor(ctx context.Context, id string) (*flamev1.Application, *flamev1.Session, error) {
	r, err := b.c.BindExecutor(ctx, &flamev1.BindExecutorRequest{ExecutorId: id})
	if err != nil {
		return nil, nil, fmt.Errorf("bind executor %s: %w", id, err)
	}
	app, ssn := r.GetApplication(), r.GetSession()
	if (app == nil) != (ssn == nil) {
		return nil, nil, status.Errorf(codes.Internal,
			"bind executor %s: session manager returned an application without a session or the reverse", id)
	}
	return app, ssn, nil
}

func (b *grpcBackend) BindExecutorCompleted(ctx context.Context, id string, res *flamev1.Result) error {
	r, err := b.c.BindExecutorCompleted(ctx, &flamev1.BindExecutorCompletedRequest{ExecutorId: id, Result: res})
	return checkResult("complete binding of executor "+id, r, err)
}

func (b *grpcBackend) LaunchTask(ctx context.Context, id string) (*flamev1.Task, error) {
	r, err := b.c.LaunchTask(ctx, &flamev1.LaunchTaskRequest{ExecutorId: id})
	if err != nil {
		return nil, fmt.Errorf("launch task on executor %s: %w", id, err)
	}
	return r.GetTask(), nil
}

func (b *grpcBackend) CompleteTask(ctx context.Context, id string, res *flamev1.TaskResult) error {
	r, err := b.c.CompleteTask(ctx, &flamev1.CompleteTaskRequest{ExecutorId: id, TaskResult: res})
	return checkResult("complete task on executor "+id, r, err)
}

func (b *grpcBackend) UnbindExecutor(ctx context.Context, id string, _ error) error {
	r, err := b.c.UnbindExecutor(ctx, &flamev1.UnbindExecutorRequest{ExecutorId: id})
	return checkResult("unbind executor "+id, r, err)
}

func (b *grpcBackend) UnbindExecutorCompleted(ctx context.Context, id string) error {
	r, err := b.c.UnbindExecutorCompleted(ctx, &flamev1.UnbindExecutorCompletedRequest{ExecutorId: id})
	return checkResult("complete unbinding of executor "+id, r, err)
}

func (b *grpcBackend) UnregisterExecutor(ctx context.Context, id string) error {
	r, err := b.c.UnregisterExecutor(ctx, &flamev1.UnregisterExecutorRequest{ExecutorId: id})
	return checkResult("unregister executor "+id, r, err)
}

// errWatchSilent ends a watch on which nothing arrived for too long.
var errWatchSilent = errors.New("no message from the session manager")

// WatchNode runs one WatchNode stream. The calling goroutine sends the
// heartbeats and watches for silence; a second goroutine, joined before
// WatchNode returns, receives and delivers.
func (b *grpcBackend) WatchNode(ctx context.Context, node string, statusFn func() *flamev1.NodeStatus, deliver func(*flamev1.Executor)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := b.c.WatchNode(ctx)
	if err != nil {
		return fmt.Errorf("watch node %s: %w", node, err)
	}
	heartbeat := func() error {
		// last_heartbeat_time stays 0: the server stamps it (spec §6.1).
		return stream.Send(&flamev1.WatchNodeRequest{Heartbeat: &flamev1.NodeHeartbeat{NodeName: node, Status: statusFn()}})
	}
	if err := heartbeat(); err != nil {
		return fmt.Errorf("watch node %s: send heartbeat: %w", node, err)
	}

	alive := make(chan struct{}, 1) // a message arrived
	recvErr := make(chan error, 1)  // the receiver ended
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case alive <- struct{}{}:
			default:
			}
			if e := resp.GetExecutor(); e != nil {
				deliver(e)
			}
		}
	}()
	// stop ends the receiver and waits for it, so that deliver is never
	// called after WatchNode returns.
	stop := func(err error) error {
		cancel()
		<-recvErr
		return err
	}

	tick := time.NewTicker(b.heartbeat)
	defer tick.Stop()
	silent := time.NewTimer(b.silence)
	defer silent.Stop()
	for {
		select {
		case <-ctx.Done():
			return stop(ctx.Err())
		case err := <-recvErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("watch node %s: the session manager closed the stream", node)
			}
			return fmt.Errorf("watch node %s: %w", node, err)
		case <-alive:
			silent.Reset(b.silence)
		case <-silent.C:
			return stop(fmt.Errorf("watch node %s: %w for %s", node, errWatchSilent, b.silence))
		case <-tick.C:
			if err := heartbeat(); err != nil {
				if errors.Is(err, io.EOF) {
					// The stream is gone; Recv reports why.
					err = <-recvErr
					cancel()
					return fmt.Errorf("watch node %s: %w", node, err)
				}
				return stop(fmt.Errorf("watch node %s: send heartbeat: %w", node, err))
			}
		}
	}
}
