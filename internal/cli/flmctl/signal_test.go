package flmctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestInterruptContext_SignalCancels(t *testing.T) {
	ctx, stop := interruptContext()
	defer stop()
	// A child made before the signal, the way commands and gRPC use ctx.
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if ctx.Err() != nil {
		t.Fatalf("fresh context: %v", ctx.Err())
	}
	// WithCancel called Done, so the handler is installed and SIGINT does
	// not kill the test.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-child.Done():
	case <-time.After(time.Minute):
		t.Fatal("SIGINT did not cancel the context")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", ctx.Err())
	}
	if got, want := fmt.Sprint(context.Cause(child)), "interrupt signal received"; got != want {
		t.Errorf("Cause = %q, want %q", got, want)
	}
}

func TestInterruptContext_Stop(t *testing.T) {
	for _, waited := range []bool{false, true} {
		ctx, stop := interruptContext()
		if waited {
			_ = ctx.Done()
		}
		stop()
		stop() // idempotent
		select {
		case <-ctx.Done():
		default:
			t.Errorf("waited=%v: Done not closed after stop", waited)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("waited=%v: Err = %v, want context.Canceled", waited, ctx.Err())
		}
	}
}
