package service

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestInstanceServer_SerialisesCalls(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	svc := TaskFunc(func(context.Context, *TaskContext) ([]byte, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return []byte("done"), nil
	})
	s := newInstanceServer(svc, slog.New(slog.DiscardHandler))

	first := make(chan *flamev1.TaskResult, 1)
	go func() {
		res, _ := s.OnTaskInvoke(context.Background(), &flamev1.TaskContext{TaskId: "1"})
		first <- res
	}()
	<-started

	// While the first call holds the service, a second one must wait: with
	// its context already cancelled, waiting is the only thing it can do
	// wrong, and it must give up without calling the service.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: "2"})
	if status.Code(err) != codes.Canceled {
		t.Errorf("concurrent call = %v, want Canceled", err)
	}
	for _, call := range []func() error{
		func() error { _, err := s.OnSessionEnter(ctx, &flamev1.SessionContext{}); return err },
		func() error { _, err := s.OnSessionLeave(ctx, &flamev1.EmptyRequest{}); return err },
	} {
		if err := call(); status.Code(err) != codes.Canceled {
			t.Errorf("concurrent enter/leave = %v, want Canceled", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("service called %d times while busy, want 1", n)
	}

	close(release)
	if res := <-first; string(res.GetOutput()) != "done" {
		t.Errorf("first call = %v, want output done", res)
	}
	// The slot is free again.
	res, err := s.OnTaskInvoke(context.Background(), &flamev1.TaskContext{TaskId: "3"})
	if err != nil || string(res.GetOutput()) != "done" {
		t.Errorf("call after release = %v, %v", res, err)
	}
}

func TestShortStack(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		b.WriteString("line")
		b.WriteByte(byte('0' + i%10))
		b.WriteByte('\n')
	}
	got := strings.Split(shortStack([]byte(b.String())), "\n")
	if len(got) != maxStackLines+1 || got[0] != "line0" || got[len(got)-1] != "\t..." {
		t.Errorf("shortStack kept %d lines (%q ... %q), want %d and an ellipsis", len(got), got[0], got[len(got)-1], maxStackLines)
	}
	if short := shortStack([]byte("a\nb\n")); short != "a\nb" {
		t.Errorf("shortStack of a short stack = %q, want it unchanged", short)
	}
}
