package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// A handler that honours its context fails the task at the timeout and the
// instance keeps serving.
func TestTaskTimeoutCancelsTheHandler(t *testing.T) {
	svc := &funcService{invoke: func(ctx context.Context, tc *service.TaskContext) ([]byte, error) {
		if string(tc.Input) == "slow" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return tc.Input, nil
	}}
	ts := startServer(t, svc, service.WithTaskTimeout(50*time.Millisecond))
	ctx := t.Context()
	res, err := ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "1", SessionId: "s", Input: []byte("slow")}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetReturnCode() != -1 || !strings.Contains(res.GetMessage(), "task timed out after 50ms: context deadline exceeded") {
		t.Fatalf("slow task: %d %q", res.GetReturnCode(), res.GetMessage())
	}
	res, err = ts.client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "2", SessionId: "s", Input: []byte("quick")})
	if err != nil || res.GetReturnCode() != 0 || string(res.GetOutput()) != "quick" {
		t.Fatalf("next task: %v %v", res, err)
	}
}

// A handler that ignores its context cannot be stopped: the task fails and
// the instance stops, so that a fresh one takes the next task.
func TestTaskTimeoutAbandonsAStuckHandler(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	svc := &funcService{invoke: func(context.Context, *service.TaskContext) ([]byte, error) {
		<-release
		return nil, nil
	}}
	ts := startServer(t, svc, service.WithTaskTimeout(20*time.Millisecond))
	res, err := ts.client.OnTaskInvoke(t.Context(), &flamev1.TaskContext{TaskId: "1", SessionId: "s"}, waitForReady)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetReturnCode() != -1 || !strings.Contains(res.GetMessage(), "its handler did not return") {
		t.Fatalf("stuck task: %d %q", res.GetReturnCode(), res.GetMessage())
	}
	if err := ts.wait(t); !errors.Is(err, service.ErrTaskAbandoned) {
		t.Fatalf("RunContext = %v, want ErrTaskAbandoned", err)
	}
}
