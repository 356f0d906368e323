package sessionmgr

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/flmctl/flmctl/internal/server/errs"
	"github.com/flmctl/flmctl/internal/server/store"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func newTestManager(t *testing.T, st store.Store) *Manager {
	t.Helper()
	if st == nil {
		st = store.NewMemory()
	}
	m, err := New(t.Context(), Options{Store: st, ScheduleInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

func str(s string) *string { return &s }
func u32(v uint32) *uint32 { return &v }
func i64(v int64) *int64   { return &v }

func mustRegister(t *testing.T, m *Manager, name string, spec *flamev1.ApplicationSpec) {
	t.Helper()
	if spec == nil {
		spec = &flamev1.ApplicationSpec{Command: str("/bin/true")}
	}
	res, err := m.RegisterApplication(t.Context(), &flamev1.RegisterApplicationRequest{Name: name, Application: spec})
	if err != nil || res.GetReturnCode() != 0 {
		t.Fatalf("register %s: %v %v", name, res, err)
	}
}

func mustSession(t *testing.T, m *Manager, id string, spec *flamev1.SessionSpec) *flamev1.Session {
	t.Helper()
	s, err := m.CreateSession(t.Context(), &flamev1.CreateSessionRequest{SessionId: id, Session: spec})
	if err != nil {
		t.Fatalf("create session %s: %v", id, err)
	}
	return s
}

func wantCode(t *testing.T, err error, code codes.Code, text string) {
	t.Helper()
	if errs.Code(err) != code || !strings.Contains(err.Error(), text) {
		t.Fatalf("error %v (%v), want %v containing %q", err, errs.Code(err), code, text)
	}
}

func TestRegisterApplication_Validation(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	for _, tc := range []struct {
		name, app string
		spec      *flamev1.ApplicationSpec
		grpcErr   string // a gRPC INVALID_ARGUMENT containing this
		result    string // else a Result -1 containing this
	}{
		{"no spec", "a", nil, "application spec is missing", ""},
		{"relative wd", "a", &flamev1.ApplicationSpec{WorkingDirectory: str("rel")}, "must be an absolute path", ""},
		{"bad schema", "a", &flamev1.ApplicationSpec{Schema: &flamev1.ApplicationSchema{Input: str("{nope")}}, "invalid input schema", ""},
		{"empty name", "", &flamev1.ApplicationSpec{}, "", "must not be empty"},
		{"dots", "a..b", &flamev1.ApplicationSpec{}, "", `must not contain ".."`},
		{"slash", "a/b", &flamev1.ApplicationSpec{}, "", "may contain only"},
		{"leading dash", "-a", &flamev1.ApplicationSpec{}, "", "must not start with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := m.RegisterApplication(ctx, &flamev1.RegisterApplicationRequest{Name: tc.app, Application: tc.spec})
			if tc.grpcErr != "" {
				wantCode(t, err, codes.InvalidArgument, tc.grpcErr)
				return
			}
			if err != nil || res.GetReturnCode() != -1 || !strings.Contains(res.GetMessage(), tc.result) {
				t.Fatalf("got %v, %v; want Result -1 with %q", res, err, tc.result)
			}
		})
	}
	// Empty working directory means none; defaults are applied.
	mustRegister(t, m, "ok", &flamev1.ApplicationSpec{WorkingDirectory: str("")})
	app, err := m.GetApplication(ctx, &flamev1.GetApplicationRequest{Name: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if app.GetSpec().WorkingDirectory != nil || app.GetSpec().GetMaxInstances() != DefaultMaxInstances || app.GetSpec().GetDelayRelease() != DefaultDelayRelease {
		t.Fatalf("stored spec %v", app.GetSpec())
	}
}

func TestOpenSession_Table(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", nil)
	mustRegister(t, m, "other", nil)
	mustSession(t, m, "s1", &flamev1.SessionSpec{Application: "app", MaxInstances: u32(10), CommonData: []byte("x")})

	open := func(spec *flamev1.SessionSpec) error {
		_, err := m.OpenSession(ctx, &flamev1.OpenSessionRequest{SessionId: "s1", Session: spec})
		return err
	}
	if err := open(nil); err != nil {
		t.Fatal(err)
	}
	// Resreq absent means the default, so it matches; common data and batch size are not compared.
	if err := open(&flamev1.SessionSpec{Application: "app", MaxInstances: u32(10), BatchSize: 7}); err != nil {
		t.Fatalf("matching spec: %v", err)
	}
	for field, spec := range map[string]*flamev1.SessionSpec{
		"application":   {Application: "other", MaxInstances: u32(10)},
		"resreq":        {Application: "app", MaxInstances: u32(10), Resreq: &flamev1.ResourceRequirement{Cpu: 2}},
		"min_instances": {Application: "app", MaxInstances: u32(10), MinInstances: 1},
		"max_instances": {Application: "app"},
		"priority":      {Application: "app", MaxInstances: u32(10), Priority: 3},
	} {
		wantCode(t, open(spec), codes.InvalidArgument, "spec mismatch: "+field+" differs")
	}
	_, err := m.OpenSession(ctx, &flamev1.OpenSessionRequest{SessionId: "nope"})
	wantCode(t, err, codes.NotFound, "not found")
	if _, err := m.CloseSession(ctx, &flamev1.CloseSessionRequest{SessionId: "s1"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, open(nil), codes.InvalidArgument, "not open")
	wantCode(t, open(&flamev1.SessionSpec{Application: "app"}), codes.InvalidArgument, "not open")
}

func TestCreateSession_Validation(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", nil)
	create := func(id string, spec *flamev1.SessionSpec) error {
		_, err := m.CreateSession(ctx, &flamev1.CreateSessionRequest{SessionId: id, Session: spec})
		return err
	}
	wantCode(t, create("x", nil), codes.InvalidArgument, "session spec is missing")
	wantCode(t, create("x", &flamev1.SessionSpec{Application: "missing"}), codes.NotFound, "application missing not found")
	wantCode(t, create("x", &flamev1.SessionSpec{Application: "app", MinInstances: 3, MaxInstances: u32(2)}), codes.InvalidArgument, "greater than max_instances")
	for _, bad := range []string{"a/b", `a\b`, "a..b", "a:b", "a b", strings.Repeat("x", 129)} {
		wantCode(t, create(bad, &flamev1.SessionSpec{Application: "app"}), codes.InvalidArgument, "session id")
	}
	s := mustSession(t, m, "", &flamev1.SessionSpec{Application: "app", BatchSize: 9})
	if id := s.GetMetadata().GetId(); !strings.HasPrefix(id, "app-") || len(id) != 10 {
		t.Fatalf("generated id %q", id)
	}
	if s.GetSpec().GetBatchSize() != 1 || s.GetSpec().GetResreq().GetCpu() != 1 || s.GetSpec().GetResreq().GetMemory() != 1<<30 {
		t.Fatalf("normalised spec %v", s.GetSpec())
	}
	wantCode(t, create(s.GetMetadata().GetId(), &flamev1.SessionSpec{Application: "app"}), codes.AlreadyExists, "already exists")
}

// node registers a fake node whose executors the test drives by hand.
func fakeNode(t *testing.T, m *Manager, cpus uint64) chan *flamev1.Executor {
	t.Helper()
	ctx := t.Context()
	res := &flamev1.ResourceRequirement{Cpu: cpus, Memory: 64 << 30}
	n := &flamev1.Node{Metadata: &flamev1.Metadata{Id: "n1", Name: "n1"}, Status: &flamev1.NodeStatus{Capacity: res}}
	if err := m.RegisterNode(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *flamev1.Executor, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Direct().WatchNode(ctx, "n1", nil, func(e *flamev1.Executor) { ch <- e })
	}()
	t.Cleanup(func() { <-done })
	return ch
}

// nextNew returns the next executor the scheduler created on the node.
func nextNew(t *testing.T, ch chan *flamev1.Executor) *flamev1.Executor {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.GetStatus().GetState() == flamev1.ExecutorState_ExecutorVoid {
				return e
			}
		case <-timeout:
			t.Fatal("no executor was created")
		}
	}
}

func TestExecutorLifecycle(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", &flamev1.ApplicationSpec{DelayRelease: new(int64)})
	node := fakeNode(t, m, 4)
	mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app", CommonData: []byte("cd")})
	if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s", Input: []byte("in")}}); err != nil {
		t.Fatal(err)
	}
	e := nextNew(t, node)
	id := e.GetMetadata().GetId()
	b := m.Direct()
	if err := b.RegisterExecutor(ctx, id, e.GetSpec()); err != nil {
		t.Fatal(err)
	}
	app, ssn, err := b.BindExecutor(ctx, id)
	if err != nil || app.GetMetadata().GetName() != "app" || ssn.GetMetadata().GetId() != "s" || string(ssn.GetSpec().GetCommonData()) != "cd" {
		t.Fatalf("bind: %v %v %v", app, ssn, err)
	}
	// Closing with a running task is refused later; first complete the bind.
	if err := b.BindExecutorCompleted(ctx, id, &flamev1.Result{}); err != nil {
		t.Fatal(err)
	}
	task, err := b.LaunchTask(ctx, id)
	if err != nil || task.GetMetadata().GetId() != "1" || task.GetStatus().GetState() != flamev1.TaskState_Running {
		t.Fatalf("launch: %v %v", task, err)
	}
	again, err := b.LaunchTask(ctx, id)
	if err != nil || again.GetMetadata().GetId() != "1" {
		t.Fatalf("repeated launch: %v %v", again, err)
	}
	_, err = m.CloseSession(ctx, &flamev1.CloseSessionRequest{SessionId: "s"})
	wantCode(t, err, codes.FailedPrecondition, "1 running tasks")
	if err := b.CompleteTask(ctx, id, &flamev1.TaskResult{ReturnCode: 0, Output: []byte("out")}); err != nil {
		t.Fatal(err)
	}
	// The end is shown once it is committed: a watch returns then.
	if err := m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: "1"}, &fakeStream{ctx: ctx}); err != nil {
		t.Fatal(err)
	}
	got, err := m.GetTask(ctx, &flamev1.GetTaskRequest{SessionId: "s", TaskId: "1"})
	if err != nil || got.GetStatus().GetState() != flamev1.TaskState_Succeed || string(got.GetSpec().GetOutput()) != "out" || len(got.GetStatus().GetEvents()) != 3 || got.GetStatus().CompletionTime == nil {
		t.Fatalf("completed task: %v %v", got, err)
	}
	// delay_release 0: no task → unbind at once.
	if task, err := b.LaunchTask(ctx, id); err != nil || task != nil {
		t.Fatalf("launch with nothing pending: %v %v", task, err)
	}
	if err := b.CompleteTask(ctx, id, &flamev1.TaskResult{}); errs.Code(err) != codes.InvalidArgument {
		t.Fatalf("complete without a task: %v", err)
	}
	if err := b.UnbindExecutor(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.UnbindExecutorCompleted(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Idle with nothing to do: the scheduler releases it, the bind poll ends.
	m.kickScheduler()
	if app, ssn, err := b.BindExecutor(ctx, id); err != nil || app != nil || ssn != nil {
		t.Fatalf("bind of a released executor: %v %v %v", app, ssn, err)
	}
	if err := b.UnregisterExecutor(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterExecutor(ctx, id, e.GetSpec()); errs.Code(err) != codes.NotFound {
		t.Fatalf("register a removed executor: %v", err)
	}
}

func TestBindFailure_RetryLimit(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", nil)
	node := fakeNode(t, m, 4)
	mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app", MinInstances: 1})
	b := m.Direct()
	// After a failed bind the idle executor may be bound to the session again
	// (it still wants min_instances) or released and replaced by a new one;
	// both are fine, each bind attempt fails until the limit.
	id := ""
	for attempt := 1; attempt <= DefaultRetryLimit; {
		if id == "" {
			e := nextNew(t, node)
			id = e.GetMetadata().GetId()
			if err := b.RegisterExecutor(ctx, id, e.GetSpec()); err != nil {
				t.Fatal(err)
			}
		}
		app, _, err := b.BindExecutor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if app == nil { // released
			if err := b.UnregisterExecutor(ctx, id); err != nil {
				t.Fatal(err)
			}
			id = ""
			continue
		}
		if err := b.BindExecutorCompleted(ctx, id, &flamev1.Result{ReturnCode: 12, Message: str("on_session_enter failed: boom")}); err != nil {
			t.Fatal(err)
		}
		if err := b.UnbindExecutor(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.UnbindExecutorCompleted(ctx, id); err != nil {
			t.Fatal(err)
		}
		attempt++
		m.kickScheduler()
	}
	// At the limit the session is not scheduled: the idle executor is released.
	if app, _, err := b.BindExecutor(ctx, id); err != nil || app != nil {
		t.Fatalf("after the retry limit the executor was bound again: %v %v", app, err)
	}
	s, err := m.GetSession(ctx, &flamev1.GetSessionRequest{SessionId: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var codes []int32
	for _, e := range s.GetStatus().GetEvents() {
		codes = append(codes, e.GetCode())
		if e.GetCode() == EventBindFailed && !strings.Contains(e.GetMessage(), "failed to bind session with return_code <12>: on_session_enter failed: boom") {
			t.Fatalf("1001 message %q", e.GetMessage())
		}
	}
	if len(codes) != DefaultRetryLimit+1 || codes[len(codes)-1] != EventRetryLimitReached {
		t.Fatalf("events %v", codes)
	}
	// Not scheduled any more.
	m.scheduleOnce()
	select {
	case e := <-node:
		if e.GetStatus().GetState() == flamev1.ExecutorState_ExecutorVoid {
			t.Fatal("an executor was created after the retry limit")
		}
	default:
	}
}

func TestWatchTask_States(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", nil)
	mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
	if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}}); err != nil {
		t.Fatal(err)
	}
	// Closing cancels the pending task: the watch sees Cancelled and ends.
	stream := &fakeStream{ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: "1"}, stream) }()
	if _, err := m.CloseSession(ctx, &flamev1.CloseSessionRequest{SessionId: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(stream.sent) != 1 || stream.sent[0].GetStatus().GetState() != flamev1.TaskState_Cancelled {
		t.Fatalf("watch sent %v", stream.sent)
	}
	err := m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: "2"}, &fakeStream{ctx: ctx})
	wantCode(t, err, codes.NotFound, "task 2 not found")
	err = m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: "x"}, &fakeStream{ctx: ctx})
	wantCode(t, err, codes.InvalidArgument, "invalid task id")
}

type fakeStream struct {
	flamev1.Frontend_WatchTaskServer
	ctx  context.Context
	sent []*flamev1.Task
}

func (f *fakeStream) Context() context.Context { return f.ctx }
func (f *fakeStream) Send(t *flamev1.Task) error {
	f.sent = append(f.sent, t)
	return nil
}

// TestRestart_RequeuesRunning reloads a manager from the store its
// predecessor used: applications, sessions and results are back, and the
// task that was running is pending again.
func TestRestart_RequeuesRunning(t *testing.T) {
	st := store.NewMemory()
	ctx := t.Context()
	m1, err := New(ctx, Options{Store: st, ScheduleInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m1.Start()
	mustRegister(t, m1, "app", nil)
	node := fakeNode(t, m1, 4)
	mustSession(t, m1, "s", &flamev1.SessionSpec{Application: "app"})
	for range 3 {
		if _, err := m1.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s", Input: []byte("i")}}); err != nil {
			t.Fatal(err)
		}
	}
	e := nextNew(t, node)
	id := e.GetMetadata().GetId()
	b := m1.Direct()
	_ = b.RegisterExecutor(ctx, id, e.GetSpec())
	_, _, _ = b.BindExecutor(ctx, id)
	_ = b.BindExecutorCompleted(ctx, id, nil)
	if _, err := b.LaunchTask(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.CompleteTask(ctx, id, &flamev1.TaskResult{Output: []byte("o")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LaunchTask(ctx, id); err != nil { // task 2 running
		t.Fatal(err)
	}
	m1.Stop()

	m2 := newTestManager(t, st)
	s, err := m2.GetSession(ctx, &flamev1.GetSessionRequest{SessionId: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.GetStatus(); st.GetSucceed() != 1 || st.GetPending() != 2 || st.GetRunning() != 0 {
		t.Fatalf("counts after restart: %v", st)
	}
	t1, _ := m2.GetTask(ctx, &flamev1.GetTaskRequest{SessionId: "s", TaskId: "1"})
	if string(t1.GetSpec().GetOutput()) != "o" || string(t1.GetSpec().GetInput()) != "i" {
		t.Fatalf("task 1 after restart: %v", t1)
	}
	// A finished task comes back compacted, and reads the same.
	m2.mu.Lock()
	compacted := m2.sessions["s"].tasks[0].enc != nil
	m2.mu.Unlock()
	if !compacted {
		t.Error("finished task 1 was not compacted at load")
	}
	if _, err := m2.GetApplication(ctx, &flamev1.GetApplicationRequest{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}}); err != nil {
		t.Fatal(err)
	}
	t4, err := m2.GetTask(ctx, &flamev1.GetTaskRequest{SessionId: "s", TaskId: "4"})
	if err != nil || t4.GetStatus().GetState() != flamev1.TaskState_Pending {
		t.Fatalf("new task id after restart: %v %v", t4, err)
	}
}

// TestCreateTask_Wait covers the wait extension (flamev1.WaitMetadataKey):
// the call answers with the terminal task, an ended context is an error, a
// stopping manager answers with the task as it stands, and without the
// metadata the Pending task comes back at once.
func TestCreateTask_Wait(t *testing.T) {
	setup := func(t *testing.T) (*Manager, string) {
		m := newTestManager(t, nil)
		mustRegister(t, m, "app", nil)
		node := fakeNode(t, m, 1)
		mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
		// Without the metadata the task is answered Pending.
		pb, err := m.CreateTask(t.Context(), &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}})
		if err != nil || pb.GetStatus().GetState() != flamev1.TaskState_Pending {
			t.Fatalf("CreateTask without wait = %v, %v; want Pending", pb, err)
		}
		id := bindNext(t, m, node)
		return m, id
	}

	t.Run("terminal", func(t *testing.T) {
		m, id := setup(t)
		b := m.Direct()
		got := createAwaiting(t, waitingContext(t.Context()), m, "s")
		for _, out := range []string{"o1", "o2"} { // task 1, then the awaited task 2
			if _, err := b.LaunchTask(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			select {
			case pb := <-got:
				t.Fatalf("CreateTask answered %v before its task ran", pb)
			default:
			}
			if err := b.CompleteTask(t.Context(), id, &flamev1.TaskResult{Output: []byte(out)}); err != nil {
				t.Fatal(err)
			}
		}
		pb := <-got
		if pb.GetMetadata().GetId() != "2" || pb.GetStatus().GetState() != flamev1.TaskState_Succeed || string(pb.GetSpec().GetOutput()) != "o2" {
			t.Fatalf("CreateTask with wait = %v, want task 2 Succeed with output o2", pb)
		}
	})
	// The two ends of a wait other than a terminal task, on task 2 created
	// without the metadata.
	lookup := func(t *testing.T, m *Manager) *task {
		if _, err := m.CreateTask(t.Context(), &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}}); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		_, tk, err := m.lookupTask("s", "2")
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	t.Run("context ends", func(t *testing.T) {
		m, _ := setup(t)
		tk := lookup(t, m)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := awaitTask(ctx, m, tk)
			errc <- err
		}()
		cancel()
		if err := <-errc; errs.Code(err) != codes.Canceled {
			t.Fatalf("wait after cancel = %v, want Canceled", err)
		}
	})
	t.Run("manager stops", func(t *testing.T) {
		m, _ := setup(t)
		tk := lookup(t, m)
		got := make(chan *flamev1.Task, 1)
		go func() {
			pb, err := awaitTask(t.Context(), m, tk)
			if err != nil {
				t.Errorf("wait at shutdown: %v", err)
			}
			got <- pb
		}()
		m.Stop()
		if pb := <-got; pb.GetMetadata().GetId() != "2" || pb.GetStatus().GetState() != flamev1.TaskState_Pending {
			t.Fatalf("wait at shutdown = %v, want task 2 Pending", pb)
		}
	})
}

// TestWatchTask_TerminalOnly: a watch that asks to wait (the metadata of
// flamev1.WaitMetadataKey) is sent the terminal state alone; a plain one
// also sees Running. synctest makes sure both watches have seen the task
// Running before it completes.
func TestWatchTask_TerminalOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newTestManager(t, nil)
		ctx := t.Context()
		mustRegister(t, m, "app", nil)
		node := fakeNode(t, m, 1)
		mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
		if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}}); err != nil {
			t.Fatal(err)
		}
		id := bindNext(t, m, node)
		b := m.Direct()
		if _, err := b.LaunchTask(ctx, id); err != nil {
			t.Fatal(err)
		}
		plain := &fakeStream{ctx: ctx}
		waiting := &fakeStream{ctx: waitingContext(ctx)}
		done := make(chan error, 2)
		for _, st := range []*fakeStream{plain, waiting} {
			go func() { done <- m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: "1"}, st) }()
		}
		synctest.Wait() // both watches wait for the next change
		if err := b.CompleteTask(ctx, id, &flamev1.TaskResult{Output: []byte("o")}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		states := func(f *fakeStream) (out []flamev1.TaskState) {
			for _, pb := range f.sent {
				out = append(out, pb.GetStatus().GetState())
			}
			return out
		}
		if got := states(waiting); !slices.Equal(got, []flamev1.TaskState{flamev1.TaskState_Succeed}) {
			t.Errorf("waiting watch sent %v, want [Succeed]", got)
		}
		if got := states(plain); !slices.Equal(got, []flamev1.TaskState{flamev1.TaskState_Running, flamev1.TaskState_Succeed}) {
			t.Errorf("plain watch sent %v, want [Running Succeed]", got)
		}
	})
}

// holdStore is a store whose commits wait while hold is open (not nil and
// not closed).
type holdStore struct {
	store.Store
	mu   sync.Mutex
	hold chan struct{}
}

func (h *holdStore) Commit(ctx context.Context, muts ...store.Mutation) error {
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return h.Store.Commit(ctx, muts...)
}

func (h *holdStore) holdCommits() func() {
	ch := make(chan struct{})
	h.mu.Lock()
	h.hold = ch
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.hold = nil
		h.mu.Unlock()
		close(ch)
	}
}

// failStore is a store whose commits fail once fail is set.
type failStore struct {
	store.Store
	fail atomic.Bool
}

func (f *failStore) Commit(ctx context.Context, muts ...store.Mutation) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.Store.Commit(ctx, muts...)
}

// TestCreateTask_WaitFailedCreation: an awaiting CreateTask whose creation
// cannot be stored answers INTERNAL at once, not when the task ends (here
// it never runs: there is no node) or the caller's deadline passes.
func TestCreateTask_WaitFailedCreation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &failStore{Store: store.NewMemory()}
		m := newTestManager(t, st)
		mustRegister(t, m, "app", nil)
		mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
		st.fail.Store(true)
		ctx, cancel := context.WithTimeout(waitingContext(t.Context()), time.Hour)
		defer cancel()
		_, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}})
		if errs.Code(err) != codes.Internal || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("CreateTask with wait on a failing store = %v, want INTERNAL naming the store's error", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("CreateTask answered only at the caller's deadline")
		}
	})
}

// TestEndsShownOnlyWhenDurable: a task's completion and a close's
// cancellations are shown to clients (GetTask, ListTask, WatchTask, an
// awaiting CreateTask) only once committed, and a CreateTask whose caller
// leaves while its commit waits is CANCELLED.
func TestEndsShownOnlyWhenDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &holdStore{Store: store.NewMemory()}
		m := newTestManager(t, st)
		ctx := t.Context()
		mustRegister(t, m, "app", nil)
		node := fakeNode(t, m, 1)
		mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
		waitCtx := waitingContext(ctx)
		got := createAwaiting(t, waitCtx, m, "s")
		id := bindNext(t, m, node)
		b := m.Direct()
		if _, err := b.LaunchTask(ctx, id); err != nil {
			t.Fatal(err)
		}
		state := func(id string) flamev1.TaskState {
			pb, err := m.GetTask(ctx, &flamev1.GetTaskRequest{SessionId: "s", TaskId: id})
			if err != nil {
				t.Fatal(err)
			}
			return pb.GetStatus().GetState()
		}

		release := st.holdCommits()
		if err := b.CompleteTask(ctx, id, &flamev1.TaskResult{Output: []byte("o")}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case pb := <-got:
			t.Fatalf("CreateTask answered %v before the completion was committed", pb)
		default:
		}
		if s := state("1"); s != flamev1.TaskState_Running {
			t.Fatalf("GetTask before the commit = %v, want Running", s)
		}
		counts := func() string {
			ss, err := m.GetSession(ctx, &flamev1.GetSessionRequest{SessionId: "s"})
			if err != nil {
				t.Fatal(err)
			}
			st := ss.GetStatus()
			return fmt.Sprintf("pending %d running %d succeed %d cancelled %d", st.GetPending(), st.GetRunning(), st.GetSucceed(), st.GetCancelled())
		}
		if c := counts(); c != "pending 0 running 1 succeed 0 cancelled 0" {
			t.Fatalf("GetSession before the commit: %s", c)
		}
		release()
		if pb := <-got; pb.GetStatus().GetState() != flamev1.TaskState_Succeed {
			t.Fatalf("CreateTask with wait = %v, want Succeed", pb)
		}

		// A pending task cancelled by a close: Pending until the commit.
		if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}}); err != nil {
			t.Fatal(err)
		}
		release = st.holdCommits()
		closed := make(chan error, 1)
		go func() {
			_, err := m.CloseSession(ctx, &flamev1.CloseSessionRequest{SessionId: "s"})
			closed <- err
		}()
		synctest.Wait()
		if s := state("2"); s != flamev1.TaskState_Pending {
			t.Fatalf("GetTask during the close's commit = %v, want Pending", s)
		}
		if c := counts(); c != "pending 1 running 0 succeed 1 cancelled 0" {
			t.Fatalf("GetSession during the close's commit: %s", c)
		}
		release()
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if s := state("2"); s != flamev1.TaskState_Cancelled {
			t.Fatalf("GetTask after the close = %v, want Cancelled", s)
		}
		if c := counts(); c != "pending 0 running 0 succeed 1 cancelled 1" {
			t.Fatalf("GetSession after the close: %s", c)
		}

		// A caller that leaves while its task's creation waits for the disk.
		mustSession(t, m, "s2", &flamev1.SessionSpec{Application: "app"})
		release = st.holdCommits()
		cctx, cancel := context.WithCancel(waitCtx)
		errc := make(chan error, 1)
		go func() {
			_, err := m.CreateTask(cctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s2"}})
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; errs.Code(err) != codes.Canceled {
			t.Fatalf("CreateTask whose caller left = %v, want Canceled", err)
		}
		release()
	})
}

// TestEndWaits: after EndWaits, a CreateTask that asks to wait is answered
// with its task as it stands, as are those already waiting.
func TestEndWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newTestManager(t, nil)
		mustRegister(t, m, "app", nil)
		mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
		waitCtx := waitingContext(t.Context())
		got := createAwaiting(t, waitCtx, m, "s")
		synctest.Wait()
		select {
		case pb := <-got:
			t.Fatalf("CreateTask answered %v before its task ended or the waits did", pb)
		default:
		}
		m.EndWaits()
		if pb := <-got; pb.GetMetadata().GetId() != "1" || pb.GetStatus().GetState() != flamev1.TaskState_Pending {
			t.Fatalf("waiting CreateTask after EndWaits = %v, want task 1 Pending", pb)
		}
		pb, err := m.CreateTask(waitCtx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s"}})
		if err != nil || pb.GetMetadata().GetId() != "2" || pb.GetStatus().GetState() != flamev1.TaskState_Pending {
			t.Fatalf("CreateTask after EndWaits = %v, %v; want task 2 Pending", pb, err)
		}
	})
}

// bindNext registers and binds the next executor the scheduler creates on
// node, through the in-process backend, and returns its id.
func bindNext(t *testing.T, m *Manager, node chan *flamev1.Executor) string {
	t.Helper()
	e := nextNew(t, node)
	id := e.GetMetadata().GetId()
	b := m.Direct()
	if err := b.RegisterExecutor(t.Context(), id, e.GetSpec()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.BindExecutor(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := b.BindExecutorCompleted(t.Context(), id, nil); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitingContext is ctx as a CreateTask or WatchTask call carrying the wait
// metadata (flamev1.WaitMetadataKey) sees it.
func waitingContext(ctx context.Context) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.Pairs(flamev1.WaitMetadataKey, flamev1.WaitTerminal))
}

// createAwaiting calls CreateTask in session sid with ctx from another
// goroutine; the answer comes on the channel (nil after an error, which
// fails t).
func createAwaiting(t *testing.T, ctx context.Context, m *Manager, sid string) <-chan *flamev1.Task {
	got := make(chan *flamev1.Task, 1)
	go func() {
		pb, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: sid}})
		if err != nil {
			t.Errorf("CreateTask: %v", err)
		}
		got <- pb
	}()
	return got
}

// TestStarvedSessionGetsFreedCapacity: a session that wants an executor
// while the node is full is starved, and its new tasks do not wake the
// scheduler; the executor freed by another session does, without the
// periodic pass (an hour here).
func TestStarvedSessionGetsFreedCapacity(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", &flamev1.ApplicationSpec{DelayRelease: new(int64)})
	node := fakeNode(t, m, 1)
	mustSession(t, m, "a", &flamev1.SessionSpec{Application: "app"})
	mustSession(t, m, "b", &flamev1.SessionSpec{Application: "app"})
	if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "a"}}); err != nil {
		t.Fatal(err)
	}
	id := bindNext(t, m, node)
	b := m.Direct()
	if task, err := b.LaunchTask(ctx, id); err != nil || task.GetSpec().GetSessionId() != "a" {
		t.Fatalf("launch: %v %v", task, err)
	}
	for range 3 {
		if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "b"}}); err != nil {
			t.Fatal(err)
		}
	}
	// The one CPU is taken: b waits. (A pass has run by the time the
	// starved flag is set; read it under the lock.)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.mu.Lock()
		starved := m.sessions["b"].starved
		m.mu.Unlock()
		if starved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session b was never marked starved")
		}
		m.kickScheduler()
		runtime.Gosched()
	}
	if err := b.CompleteTask(ctx, id, &flamev1.TaskResult{}); err != nil {
		t.Fatal(err)
	}
	if task, err := b.LaunchTask(ctx, id); err != nil || task != nil {
		t.Fatalf("launch with a's queue empty: %v %v", task, err)
	}
	if err := b.UnbindExecutor(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.UnbindExecutorCompleted(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The freed executor goes to b: bound to it, or released and replaced.
	for {
		app, ssn, err := b.BindExecutor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if app != nil {
			if ssn.GetMetadata().GetId() != "b" {
				t.Fatalf("freed executor bound to %q, want b", ssn.GetMetadata().GetId())
			}
			return
		}
		if err := b.UnregisterExecutor(ctx, id); err != nil {
			t.Fatal(err)
		}
		e := nextNew(t, node)
		id = e.GetMetadata().GetId()
		if err := b.RegisterExecutor(ctx, id, e.GetSpec()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFinishedTasksCompacted: tasks finished compactLag completions ago are
// kept encoded, and every read shows them exactly as before.
func TestFinishedTasksCompacted(t *testing.T) {
	m := newTestManager(t, nil)
	ctx := t.Context()
	mustRegister(t, m, "app", &flamev1.ApplicationSpec{Command: str("/bin/true"), DelayRelease: i64(3600)})
	node := fakeNode(t, m, 1)
	mustSession(t, m, "s", &flamev1.SessionSpec{Application: "app"})
	const n = 2*compactLag + 10
	create := func(i int) {
		t.Helper()
		if _, err := m.CreateTask(ctx, &flamev1.CreateTaskRequest{Task: &flamev1.TaskSpec{SessionId: "s", Input: fmt.Appendf(nil, "in-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	create(1)
	id := bindNext(t, m, node)
	b := m.Direct()
	first := map[int]*flamev1.Task{} // tasks as read right after they ended
	for i := 1; i <= n; i++ {
		if i > 1 {
			create(i)
		}
		if task, err := b.LaunchTask(ctx, id); err != nil || task.GetMetadata().GetId() != strconv.Itoa(i) {
			t.Fatalf("launch %d: %v %v", i, task, err)
		}
		res := &flamev1.TaskResult{Output: fmt.Appendf(nil, "out-%d", i)}
		if i%3 == 0 {
			res = &flamev1.TaskResult{ReturnCode: -1, Message: str(fmt.Sprintf("failed %d", i))}
		}
		if err := b.CompleteTask(ctx, id, res); err != nil {
			t.Fatal(err)
		}
		if i <= 3 {
			// The end is shown once committed: the watch waits for it.
			ws := &fakeStream{ctx: ctx}
			if err := m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: strconv.Itoa(i)}, ws); err != nil {
				t.Fatal(err)
			}
			first[i] = ws.sent[len(ws.sent)-1]
		}
	}
	// Once the last end is shown, every end before it is.
	if err := m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: strconv.Itoa(n)}, &fakeStream{ctx: ctx}); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	var compacted int
	for _, tk := range m.sessions["s"].tasks {
		if tk.enc != nil {
			compacted++
		}
	}
	m.mu.Unlock()
	if compacted != n-compactLag {
		t.Fatalf("%d of %d finished tasks compacted, want %d", compacted, n, n-compactLag)
	}
	for i, want := range first {
		got, err := m.GetTask(ctx, &flamev1.GetTaskRequest{SessionId: "s", TaskId: strconv.Itoa(i)})
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("task %d after compaction:\n got %v\nwant %v (%v)", i, got, want, err)
		}
		ws := &fakeStream{ctx: ctx}
		if err := m.WatchTask(&flamev1.WatchTaskRequest{SessionId: "s", TaskId: strconv.Itoa(i)}, ws); err != nil {
			t.Fatal(err)
		}
		if len(ws.sent) != 1 || !proto.Equal(ws.sent[0], want) {
			t.Fatalf("watch of compacted task %d sent %v, want the final state once", i, ws.sent)
		}
	}
	ls := &fakeStream{ctx: ctx}
	if err := m.ListTask(&flamev1.ListTaskRequest{SessionId: "s"}, ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.sent) != n {
		t.Fatalf("listed %d tasks, want %d", len(ls.sent), n)
	}
	for i, got := range ls.sent {
		id := i + 1
		wantState, wantOut := flamev1.TaskState_Succeed, fmt.Sprintf("out-%d", id)
		if id%3 == 0 {
			wantState, wantOut = flamev1.TaskState_Failed, ""
		}
		if got.GetMetadata().GetId() != strconv.Itoa(id) || got.GetStatus().GetState() != wantState ||
			string(got.GetSpec().GetOutput()) != wantOut || string(got.GetSpec().GetInput()) != fmt.Sprintf("in-%d", id) {
			t.Fatalf("listed task %d: %v", id, got)
		}
	}
	ssn, err := m.GetSession(ctx, &flamev1.GetSessionRequest{SessionId: "s"})
	if err != nil || ssn.GetStatus().GetSucceed() != n-n/3 || ssn.GetStatus().GetFailed() != n/3 {
		t.Fatalf("session counts: %v %v", ssn.GetStatus(), err)
	}
}

// awaitTask calls m.awaitTerminal with tk's state as it stands.
func awaitTask(ctx context.Context, m *Manager, tk *task) (*flamev1.Task, error) {
	m.mu.Lock()
	ended := waitChan(&tk.ended)
	m.mu.Unlock()
	return m.awaitTerminal(ctx, tk, ended, nil)
}
