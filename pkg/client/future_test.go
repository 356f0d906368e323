package client_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// gatedTasks is a stub whose tasks finish, with output "out:<input>", only
// after release is closed. It records how many watches run at once.
type gatedTasks struct {
	release chan struct{}
	started chan struct{} // one send per WatchTask call

	mu        sync.Mutex
	inputs    map[string][]byte
	active    int
	maxActive int
}

func newGatedTasks(n int) *gatedTasks {
	return &gatedTasks{release: make(chan struct{}), started: make(chan struct{}, n), inputs: map[string][]byte{}}
}

func (g *gatedTasks) stub() *stubFrontend {
	return &stubFrontend{
		CreateTaskF: func(_ context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			id := strconv.Itoa(len(g.inputs) + 1)
			g.inputs[id] = r.GetTask().GetInput()
			return taskProto(r.GetTask().GetSessionId(), id, flamev1.TaskState_Pending, nil), nil
		},
		WatchTaskF: func(r *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
			g.mu.Lock()
			g.active++
			g.maxActive = max(g.maxActive, g.active)
			input := g.inputs[r.TaskId]
			g.mu.Unlock()
			defer func() {
				g.mu.Lock()
				g.active--
				g.mu.Unlock()
			}()
			g.started <- struct{}{}
			select {
			case <-g.release:
			case <-st.Context().Done():
				return st.Context().Err()
			}
			return st.Send(taskProto(r.SessionId, r.TaskId, flamev1.TaskState_Succeed, append([]byte("out:"), input...)))
		},
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %d events", n)
		}
	}
}

func TestRun_ManyFutures(t *testing.T) {
	const n, limit = 2000, 4
	gate := newGatedTasks(n)
	ssn := openSession(t, gate.stub(), client.WithMaxWatchStreams(limit))
	before := runtime.NumGoroutine()

	futures := make([]*client.Future, n)
	var wg sync.WaitGroup
	for w := range 8 { // Run is safe for concurrent use
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				futures[i] = ssn.Run(t.Context(), []byte(strconv.Itoa(i)))
			}
		})
	}
	wg.Wait()
	waitFor(t, gate.started, limit)
	// 2000 pending futures, but only the pool's workers and their streams
	// (a few goroutines each, client and server side) exist.
	if extra := runtime.NumGoroutine() - before; extra > 10*limit {
		t.Errorf("%d goroutines more with %d pending futures (limit %d)", extra, n, limit)
	}
	for _, f := range futures[:10] {
		select {
		case <-f.Done():
			t.Fatalf("future of task %s resolved before its task finished", f.TaskID())
		default:
		}
	}

	close(gate.release)
	for i, f := range futures {
		out, err := f.Wait(t.Context())
		if want := fmt.Sprintf("out:%d", i); err != nil || string(out) != want {
			t.Fatalf("future %d (task %s) = %q, %v; want %q", i, f.TaskID(), out, err, want)
		}
	}
	if gate.maxActive > limit {
		t.Errorf("%d watches at once, limit %d", gate.maxActive, limit)
	}
}

func TestRun_CancelWhileQueued(t *testing.T) {
	gate := newGatedTasks(2)
	ssn := openSession(t, gate.stub(), client.WithMaxWatchStreams(1))
	busy := ssn.Run(t.Context(), []byte("a")) // takes the only watch stream
	waitFor(t, gate.started, 1)

	ctx, cancel := context.WithCancel(t.Context())
	queued := ssn.Run(ctx, []byte("b"))
	cancel()
	select {
	case <-queued.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled future did not resolve while queued")
	}
	if _, err := queued.Result(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled future = %v, want context.Canceled", err)
	}

	close(gate.release)
	if out, err := busy.Wait(t.Context()); err != nil || string(out) != "out:a" {
		t.Errorf("busy future = %q, %v", out, err)
	}
}

func TestFuture_WaitAndResult(t *testing.T) {
	gate := newGatedTasks(1)
	ssn := openSession(t, gate.stub())
	f := ssn.Run(t.Context(), []byte("x"))
	if _, err := f.Result(); !errors.Is(err, client.ErrInvalidState) {
		t.Errorf("Result before Done = %v, want ErrInvalidState", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v, want context.Canceled", err)
	}
	close(gate.release)
	<-f.Done()
	if out, err := f.Result(); err != nil || string(out) != "out:x" {
		t.Errorf("Result = %q, %v", out, err)
	}
}

func TestRun_Failures(t *testing.T) {
	var creates atomic.Int32
	stub := taskStub(taskProto("s1", "1", flamev1.TaskState_Failed, nil, &flamev1.Event{Code: 3, Message: new("boom")}), nil)
	create := stub.CreateTaskF
	stub.CreateTaskF = func(ctx context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
		if creates.Add(1) == 2 {
			return nil, status.Error(codes.NotFound, "session s1")
		}
		return create(ctx, r)
	}
	ssn := openSession(t, stub)

	_, err := ssn.Run(t.Context(), nil).Wait(t.Context())
	var tf *client.TaskFailedError
	if !errors.As(err, &tf) || tf.TaskID != "1" || err.Error() != `task 1 of session "s1" failed: boom` {
		t.Errorf("failed task future = %v", err)
	}

	f := ssn.Run(t.Context(), nil)
	select {
	case <-f.Done():
	default:
		t.Fatal("a future whose task could not be created is not done")
	}
	if _, err := f.Result(); !errors.Is(err, client.ErrNotFound) || f.TaskID() != "" {
		t.Errorf("future = %q, %v; want no task id and ErrNotFound", f.TaskID(), err)
	}
}

func TestRun_ConnectionClosed(t *testing.T) {
	gate := newGatedTasks(3)
	conn := connect(t, gate.stub(), client.WithMaxWatchStreams(1))
	ssn := getSession(t, conn, "s1")
	futures := []*client.Future{ssn.Run(t.Context(), nil), ssn.Run(t.Context(), nil), ssn.Run(t.Context(), nil)}
	waitFor(t, gate.started, 1) // one watching, two queued

	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	for i, f := range futures {
		select {
		case <-f.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("future %d did not resolve after Close", i)
		}
		if _, err := f.Result(); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "closing") {
			t.Errorf("future %d on a closed connection = %v, want context.Canceled saying the connection is closing", i, err)
		}
	}
}
