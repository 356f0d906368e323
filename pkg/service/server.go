package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// returnCodeFailed is what upstream's SDKs (flamepy, flame-rs) put in
// Result.return_code and TaskResult.return_code for a failed call.
const returnCodeFailed = -1

// instanceServer adapts a Service to the generated flame.v1.Instance server.
type instanceServer struct {
	flamev1.UnimplementedInstanceServer

	svc Service
	log *slog.Logger
	// slot has capacity one; holding it is the right to call into svc. The
	// executor manager calls sequentially, but a misbehaving caller must not
	// make a Service race with itself.
	slot chan struct{}
	// timeout limits each task (0: none); abandon stops the instance when a
	// task's handler overran it and did not return.
	timeout time.Duration
	abandon func()
}

// abandonAfter is how long a handler has to return after its task's
// context was cancelled at the timeout.
const abandonAfter = time.Second

func newInstanceServer(svc Service, log *slog.Logger) *instanceServer {
	return &instanceServer{svc: svc, log: log, slot: make(chan struct{}, 1)}
}

func (s *instanceServer) acquire(ctx context.Context) error {
	select {
	case s.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (s *instanceServer) release() { <-s.slot }

// OnSessionEnter implements flamev1.InstanceServer.
func (s *instanceServer) OnSessionEnter(ctx context.Context, req *flamev1.SessionContext) (*flamev1.Result, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	sc := sessionFromProto(req)
	s.log.Debug("session enter", "session", sc.SessionID, "application", sc.Application.Name)
	err := s.guard("OnSessionEnter", func() error { return s.svc.OnSessionEnter(ctx, sc) })
	if err != nil {
		s.log.Warn("session enter failed", "session", sc.SessionID, "error", err)
	}
	return result(err), nil
}

// OnTaskInvoke implements flamev1.InstanceServer.
func (s *instanceServer) OnTaskInvoke(ctx context.Context, req *flamev1.TaskContext) (*flamev1.TaskResult, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	tc := taskFromProto(req)
	s.log.Debug("task invoke", "session", tc.SessionID, "task", tc.TaskID, "input_bytes", len(tc.Input))
	out, stuck, err := s.invoke(ctx, tc)
	if !stuck {
		s.release()
	}
	if err != nil {
		s.log.Debug("task failed", "session", tc.SessionID, "task", tc.TaskID, "error", err)
		msg := err.Error()
		return &flamev1.TaskResult{ReturnCode: returnCodeFailed, Message: &msg}, nil
	}
	// A nil out stays nil, which the wire encodes as "no output".
	return &flamev1.TaskResult{ReturnCode: 0, Output: out}, nil
}

// invoke runs the handler, within the timeout if there is one. stuck
// reports a handler that overran and did not return: it still holds the
// service, and the instance is being stopped.
func (s *instanceServer) invoke(ctx context.Context, tc *TaskContext) (out []byte, stuck bool, err error) {
	call := func(ctx context.Context) error {
		return s.guard("OnTaskInvoke", func() error {
			var err error
			out, err = s.svc.OnTaskInvoke(ctx, tc)
			return err
		})
	}
	if s.timeout <= 0 {
		return out, false, call(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(tctx) }()
	timedOut := func(err error) error {
		if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("task timed out after %v: %w", s.timeout, err)
		}
		return err
	}
	select {
	case err := <-done:
		return out, false, timedOut(err)
	case <-tctx.Done():
	}
	grace := time.NewTimer(abandonAfter)
	defer grace.Stop()
	select {
	case err := <-done:
		return out, false, timedOut(err)
	case <-grace.C:
	}
	if s.abandon != nil {
		s.abandon()
	}
	s.log.Error("task handler did not return after its timeout", "session", tc.SessionID, "task", tc.TaskID, "timeout", s.timeout.String())
	return nil, true, fmt.Errorf("task timed out after %v and its handler did not return (it ignores its context); "+
		"the instance stops so that a fresh one takes the next task", s.timeout)
}

// OnSessionLeave implements flamev1.InstanceServer.
func (s *instanceServer) OnSessionLeave(ctx context.Context, _ *flamev1.EmptyRequest) (*flamev1.Result, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	s.log.Debug("session leave")
	err := s.guard("OnSessionLeave", func() error { return s.svc.OnSessionLeave(ctx) })
	if err != nil {
		s.log.Warn("session leave failed", "error", err)
	}
	return result(err), nil
}

func result(err error) *flamev1.Result {
	if err == nil {
		return &flamev1.Result{ReturnCode: 0}
	}
	msg := err.Error()
	return &flamev1.Result{ReturnCode: returnCodeFailed, Message: &msg}
}

// panicError is what a recovered panic becomes.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// guard runs fn, turning a panic into an error so that one bad task fails
// alone and the instance keeps serving.
func (s *instanceServer) guard(rpc string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
			s.log.Error("service handler panicked", "rpc", rpc, "panic", fmt.Sprint(r), "stack", shortStack(debug.Stack()))
		}
	}()
	return fn()
}

// maxStackLines bounds the stack logged for a panic: enough for the
// handler's frames, not the whole gRPC machinery below them.
const maxStackLines = 24

// shortStack trims a debug.Stack() dump to its first frames.
func shortStack(stack []byte) string {
	lines := strings.Split(strings.TrimRight(string(stack), "\n"), "\n")
	if len(lines) > maxStackLines {
		lines = append(lines[:maxStackLines], "\t...")
	}
	return strings.Join(lines, "\n")
}
