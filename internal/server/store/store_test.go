package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// storeKinds are the implementations every conformance test runs against.
// "sqlite-reopen" closes and reopens the database before every Load, so each
// assertion made through Load also checks what survives a restart.
var storeKinds = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"memory", func(t *testing.T) Store { return NewMemory() }},
	{"sqlite", func(t *testing.T) Store { return openTestSQLite(t, filepath.Join(t.TempDir(), "flame.db")) }},
	{"sqlite-reopen", func(t *testing.T) Store {
		path := filepath.Join(t.TempDir(), "flame.db")
		r := &reopening{t: t, path: path, cur: openTestSQLite(t, path)}
		return r
	}},
}

// testAllStores runs test once per implementation, each with a fresh store
// that is closed when the test ends.
func testAllStores(t *testing.T, test func(t *testing.T, s Store)) {
	t.Helper()
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			s := k.open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			test(t, s)
		})
	}
}

func openTestSQLite(t *testing.T, path string, opts ...SQLiteOption) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path, opts...)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return s
}

// reopening is a Store whose Load first restarts the SQLite store.
type reopening struct {
	t    *testing.T
	path string

	mu     sync.Mutex // guards cur and closed
	cur    *SQLite
	closed bool
}

func (r *reopening) current() *SQLite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *reopening) Load(ctx context.Context) (*State, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if err := r.cur.Close(); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	s, err := OpenSQLite(r.path)
	if err != nil {
		r.mu.Unlock()
		r.t.Fatalf("reopen: %v", err)
	}
	r.cur = s
	r.mu.Unlock()
	return s.Load(ctx)
}

func (r *reopening) Enqueue(muts ...Mutation) *Pending { return r.current().Enqueue(muts...) }
func (r *reopening) Commit(ctx context.Context, muts ...Mutation) error {
	return r.current().Commit(ctx, muts...)
}
func (r *reopening) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return r.current().Close()
}

// Fixtures.

func app(name, desc string) *flamev1.Application {
	return &flamev1.Application{
		Metadata: &flamev1.Metadata{Id: name, Name: name},
		Spec: &flamev1.ApplicationSpec{
			Description: proto.String(desc),
			Command:     proto.String("/bin/" + name),
			Arguments:   []string{"-x", "1"},
		},
		Status: &flamev1.ApplicationStatus{State: flamev1.ApplicationState_Enabled, CreationTime: 1700000000000},
	}
}

func session(id, appName string) *flamev1.Session {
	return &flamev1.Session{
		Metadata: &flamev1.Metadata{Id: id, Name: id},
		Spec:     &flamev1.SessionSpec{Application: appName, MinInstances: 1, BatchSize: 1, CommonData: []byte("common-" + id)},
		Status:   &flamev1.SessionStatus{State: flamev1.SessionState_Open, CreationTime: 1700000000001},
	}
}

func task(sid string, id int, input []byte) *flamev1.Task {
	return &flamev1.Task{
		Metadata: &flamev1.Metadata{Id: strconv.Itoa(id), Name: strconv.Itoa(id)},
		Spec:     &flamev1.TaskSpec{SessionId: sid, Input: input},
		Status: &flamev1.TaskStatus{
			State:        flamev1.TaskState_Pending,
			CreationTime: 1700000000002,
			Events:       []*flamev1.Event{{Code: 0, Message: proto.String("Task was created with state <Pending>"), CreationTime: 1700000000002}},
		},
	}
}

// succeeded returns t moved to Succeed with output, without its input (as
// the session manager might send it: UpdateTask ignores the input).
func succeeded(t *flamev1.Task, output []byte) *flamev1.Task {
	u := proto.CloneOf(t)
	u.Spec.Input = nil
	u.Spec.Output = output
	u.Status.State = flamev1.TaskState_Succeed
	u.Status.CompletionTime = proto.Int64(1700000000009)
	u.Status.Events = append(u.Status.Events,
		&flamev1.Event{Code: 1, Message: proto.String("Task state was updated to <Running>"), CreationTime: 1700000000003},
		&flamev1.Event{Code: 2, Message: proto.String("Task was completed with state <Succeed>"), CreationTime: 1700000000009})
	return u
}

func commit(t *testing.T, s Store, muts ...Mutation) {
	t.Helper()
	if err := s.Commit(context.Background(), muts...); err != nil {
		t.Fatalf("Commit(%v): %v", muts, err)
	}
}

func load(t *testing.T, s Store) *State {
	t.Helper()
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func diffState(t *testing.T, want, got *State) {
	t.Helper()
	// State does not promise nil rather than empty slices.
	want, got = normalizeState(want), normalizeState(got)
	if d := cmp.Diff(want, got, protocmp.Transform(), cmp.Comparer(func(a, b []byte) bool {
		// nil and empty differ: proto3 optional bytes carry presence.
		return (a == nil) == (b == nil) && string(a) == string(b)
	})); d != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", d)
	}
}

func normalizeState(st *State) *State {
	if st == nil {
		return nil
	}
	n := *st
	if len(n.Applications) == 0 {
		n.Applications = nil
	}
	if len(n.Sessions) == 0 {
		n.Sessions = nil
	}
	if len(n.Tasks) == 0 {
		n.Tasks = nil
	}
	return &n
}

// Conformance tests.

func TestStore_Applications(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		diffState(t, &State{}, load(t, s))
		a, b := app("b-app", "first"), app("a-app", "other")
		commit(t, s, PutApplication(a), PutApplication(b))
		diffState(t, &State{Applications: []*flamev1.Application{b, a}}, load(t, s))

		a2 := app("b-app", "second")
		a2.Status.State = flamev1.ApplicationState_Disabled
		commit(t, s, PutApplication(a2))
		diffState(t, &State{Applications: []*flamev1.Application{b, a2}}, load(t, s))

		commit(t, s, DeleteApplication("a-app"), DeleteApplication("never-there"))
		diffState(t, &State{Applications: []*flamev1.Application{a2}}, load(t, s))
	})
}

func TestStore_DeleteApplicationCascades(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		a, b := app("a", ""), app("b", "")
		s1, s2, s3 := session("s1", "a"), session("s2", "a"), session("s3", "b")
		t1, t2, t3 := task("s1", 1, []byte("in1")), task("s2", 1, []byte("in2")), task("s3", 1, []byte("in3"))
		commit(t, s, PutApplication(a), PutApplication(b), PutSession(s1), PutSession(s2), PutSession(s3))
		commit(t, s, CreateTask(t1), CreateTask(t2), CreateTask(t3))
		commit(t, s, DeleteApplication("a"))
		diffState(t, &State{
			Applications: []*flamev1.Application{b},
			Sessions:     []*flamev1.Session{s3},
			Tasks:        []*flamev1.Task{t3},
		}, load(t, s))

		// A session re-created with a deleted session's ID starts empty.
		commit(t, s, PutApplication(a), PutSession(s1))
		diffState(t, &State{
			Applications: []*flamev1.Application{a, b},
			Sessions:     []*flamev1.Session{s1, s3},
			Tasks:        []*flamev1.Task{t3},
		}, load(t, s))
	})
}

func TestStore_PutSessionReplaces(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		ssn := session("ssn-1", "app")
		commit(t, s, PutSession(ssn))
		closed := proto.CloneOf(ssn)
		closed.Status.State = flamev1.SessionState_Closed
		closed.Status.CompletionTime = proto.Int64(1700000000100)
		closed.Status.Succeed = 7
		closed.Status.Events = []*flamev1.Event{{Code: 1001, Message: proto.String("bind failed"), CreationTime: 1700000000050}}
		commit(t, s, PutSession(closed))
		diffState(t, &State{Sessions: []*flamev1.Session{closed}}, load(t, s))
	})
}

func TestStore_DeleteSessionCascades(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		s1, s2 := session("s1", "a"), session("s2", "a")
		commit(t, s, PutSession(s1), PutSession(s2))
		var keep []*flamev1.Task
		for i := 1; i <= 5; i++ {
			commit(t, s, CreateTask(task("s1", i, []byte("x"))))
			k := task("s2", i, []byte("y"))
			commit(t, s, CreateTask(k))
			keep = append(keep, k)
		}
		commit(t, s, DeleteSession("s1"), DeleteSession("never-there"))
		diffState(t, &State{Sessions: []*flamev1.Session{s2}, Tasks: keep}, load(t, s))
		// The ID can be reused and starts without tasks.
		commit(t, s, PutSession(s1))
		diffState(t, &State{Sessions: []*flamev1.Session{s1, s2}, Tasks: keep}, load(t, s))
	})
}

func TestStore_UpdateTaskKeepsInput(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		commit(t, s, PutSession(session("s", "a")))
		big := make([]byte, 256<<10)
		for i := range big {
			big[i] = byte(i * 7)
		}
		withInput := task("s", 1, big)
		noInput := task("s", 2, nil)
		emptyInput := task("s", 3, []byte{})
		commit(t, s, CreateTask(withInput), CreateTask(noInput), CreateTask(emptyInput))
		diffState(t, &State{
			Sessions: []*flamev1.Session{session("s", "a")},
			Tasks:    []*flamev1.Task{withInput, noInput, emptyInput},
		}, load(t, s))

		// Running, with a different input in the message: ignored.
		running := proto.CloneOf(withInput)
		running.Spec.Input = []byte("must be ignored")
		running.Status.State = flamev1.TaskState_Running
		commit(t, s, UpdateTask(running))
		done1 := succeeded(withInput, []byte("out-1"))
		done2 := succeeded(noInput, nil)
		done3 := succeeded(emptyInput, []byte{})
		commit(t, s, UpdateTask(done1), UpdateTask(done2), UpdateTask(done3))

		want1 := proto.CloneOf(done1)
		want1.Spec.Input = big
		want3 := proto.CloneOf(done3)
		want3.Spec.Input = []byte{}
		diffState(t, &State{
			Sessions: []*flamev1.Session{session("s", "a")},
			Tasks:    []*flamev1.Task{want1, done2, want3},
		}, load(t, s))

		// CreateTask replaces the whole task, input included.
		again := task("s", 1, nil)
		commit(t, s, CreateTask(again))
		diffState(t, &State{
			Sessions: []*flamev1.Session{session("s", "a")},
			Tasks:    []*flamev1.Task{again, done2, want3},
		}, load(t, s))
	})
}

func TestStore_UpdateUnknownTaskIsNoop(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		ssn := session("s", "a")
		t1 := task("s", 1, []byte("in"))
		commit(t, s, PutSession(ssn), CreateTask(t1))
		commit(t, s, UpdateTask(succeeded(task("s", 2, nil), []byte("o"))), UpdateTask(succeeded(task("other", 1, nil), nil)))
		diffState(t, &State{Sessions: []*flamev1.Session{ssn}, Tasks: []*flamev1.Task{t1}}, load(t, s))
	})
}

func TestStore_TaskOfUnknownSessionIsKept(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		orphan := task("ghost", 4, []byte("boo"))
		commit(t, s, CreateTask(orphan))
		diffState(t, &State{Tasks: []*flamev1.Task{orphan}}, load(t, s))
		// Storing the session later adopts the task.
		ghost := session("ghost", "a")
		commit(t, s, PutSession(ghost))
		diffState(t, &State{Sessions: []*flamev1.Session{ghost}, Tasks: []*flamev1.Task{orphan}}, load(t, s))
		commit(t, s, DeleteSession("ghost"))
		diffState(t, &State{}, load(t, s))

		commit(t, s, CreateTask(orphan), DeleteSession("ghost"))
		diffState(t, &State{}, load(t, s))
	})
}

func TestStore_LoadOrder(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		// Stored out of order: sessions b, a, c; task IDs 10, 2, 1, 100.
		for _, id := range []string{"b", "a", "c"} {
			commit(t, s, PutSession(session(id, "app")))
		}
		for _, sid := range []string{"c", "b", "a"} {
			for _, id := range []int{10, 2, 1, 100, MaxTaskID} {
				commit(t, s, CreateTask(task(sid, id, []byte(sid))))
			}
		}
		for _, id := range []string{"z", "y", "x"} {
			commit(t, s, PutApplication(app(id, "")))
		}
		st := load(t, s)
		var got []string
		for _, a := range st.Applications {
			got = append(got, a.GetMetadata().GetName())
		}
		for _, ssn := range st.Sessions {
			got = append(got, ssn.GetMetadata().GetId())
		}
		for _, tk := range st.Tasks {
			got = append(got, tk.GetSpec().GetSessionId()+"/"+tk.GetMetadata().GetId())
		}
		want := []string{"x", "y", "z", "a", "b", "c"}
		for _, sid := range []string{"a", "b", "c"} {
			for _, id := range []string{"1", "2", "10", "100", "4294967295"} {
				want = append(want, sid+"/"+id)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Load order (-want +got):\n%s", d)
		}
	})
}

func TestStore_InvalidMutationAppliesNothing(t *testing.T) {
	badTask := func(id string) *flamev1.Task {
		tk := task("s", 1, nil)
		tk.Metadata.Id = id
		return tk
	}
	cases := []struct {
		name string
		mut  Mutation
		want string // in the error message
	}{
		{"zero", Mutation{}, "zero Mutation"},
		{"nil application", PutApplication(nil), ""},
		{"application without name", PutApplication(&flamev1.Application{Metadata: &flamev1.Metadata{Id: "x"}}), "metadata.name"},
		{"delete application without name", DeleteApplication(""), "application name is empty"},
		{"nil session", PutSession(nil), ""},
		{"session without id", PutSession(&flamev1.Session{Metadata: &flamev1.Metadata{Name: "x"}}), "PutSession(): the session has no metadata.id"},
		{"delete session without id", DeleteSession(""), "session ID is empty"},
		{"nil task", CreateTask(nil), ""},
		{"task without session", CreateTask(&flamev1.Task{Metadata: &flamev1.Metadata{Id: "1"}}), "spec.session_id"},
		{"update without session", UpdateTask(&flamev1.Task{Metadata: &flamev1.Metadata{Id: "1"}, Spec: &flamev1.TaskSpec{}}), ""},
		{"task id empty", CreateTask(badTask("")), ""},
		{"task id not a number", CreateTask(badTask("abc")), `CreateTask(s/abc): task metadata.id "abc" must be a decimal number`},
		{"task id leading zero", CreateTask(badTask("01")), ""},
		{"task id negative", UpdateTask(badTask("-1")), ""},
		{"task id too large", CreateTask(badTask("4294967296")), "from 0 to 4294967295"},
		{"task id with sign", CreateTask(badTask("+1")), ""},
	}
	testAllStores(t, func(t *testing.T, s Store) {
		for _, c := range cases {
			err := s.Commit(context.Background(), PutApplication(app("ok", "")), c.mut)
			if !errors.Is(err, ErrInvalidMutation) {
				t.Errorf("%s: Commit error = %v, want ErrInvalidMutation", c.name, err)
			} else if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: Commit error = %q, want it to contain %q", c.name, err, c.want)
			}
			if err := s.Enqueue(c.mut).Wait(context.Background()); !errors.Is(err, ErrInvalidMutation) {
				t.Errorf("%s: Enqueue error = %v, want ErrInvalidMutation", c.name, err)
			}
		}
		diffState(t, &State{}, load(t, s))
	})
}

func TestStore_ConcurrentCommitters(t *testing.T) {
	// 64 goroutines × 200 mutations: each goroutine creates 100 tasks of its
	// own session and completes them, one Commit per step, pairing the
	// creation of task i with the completion of task i-1.
	const goroutines, tasks = 64, 100
	testAllStores(t, func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				sid := fmt.Sprintf("s%02d", g)
				muts := []Mutation{PutSession(session(sid, "a"))}
				for i := 1; i <= tasks+1; i++ {
					if i <= tasks {
						muts = append(muts, CreateTask(task(sid, i, []byte(sid+"/"+strconv.Itoa(i)))))
					}
					if i > 1 {
						muts = append(muts, UpdateTask(succeeded(task(sid, i-1, nil), []byte("out"))))
					}
					if err := s.Commit(context.Background(), muts...); err != nil {
						errs <- err
						return
					}
					muts = muts[:0]
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Commit: %v", err)
		}
		st := load(t, s)
		if len(st.Sessions) != goroutines || len(st.Tasks) != goroutines*tasks {
			t.Fatalf("Load: %d sessions, %d tasks; want %d, %d", len(st.Sessions), len(st.Tasks), goroutines, goroutines*tasks)
		}
		for i, tk := range st.Tasks {
			sid, id := fmt.Sprintf("s%02d", i/tasks), i%tasks+1
			if tk.GetSpec().GetSessionId() != sid || tk.GetMetadata().GetId() != strconv.Itoa(id) ||
				string(tk.GetSpec().GetInput()) != sid+"/"+strconv.Itoa(id) ||
				tk.GetStatus().GetState() != flamev1.TaskState_Succeed || string(tk.GetSpec().GetOutput()) != "out" {
				t.Fatalf("task %d = %v; want %s/%d succeeded with its input", i, tk, sid, id)
			}
		}
	})
}

func TestStore_EnqueueKeepsOrder(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		// Many updates of one task, enqueued back to back without waiting:
		// the last one enqueued must win.
		tk := task("s", 1, []byte("in"))
		pendings := []*Pending{s.Enqueue(PutSession(session("s", "a"))), s.Enqueue(CreateTask(tk))}
		var last *flamev1.Task
		for i := range 300 {
			u := proto.CloneOf(tk)
			u.Spec.Input = nil
			u.Status.State = flamev1.TaskState(1 + i%3)
			u.Status.Events = append(u.Status.Events, &flamev1.Event{Code: int32(i), CreationTime: int64(i)})
			pendings = append(pendings, s.Enqueue(UpdateTask(u)))
			last = u
		}
		for _, p := range pendings {
			if err := p.Wait(context.Background()); err != nil {
				t.Fatalf("Wait: %v", err)
			}
		}
		// Wait is repeatable.
		if err := pendings[0].Wait(context.Background()); err != nil {
			t.Fatalf("second Wait: %v", err)
		}
		want := proto.CloneOf(last)
		want.Spec.Input = []byte("in")
		diffState(t, &State{Sessions: []*flamev1.Session{session("s", "a")}, Tasks: []*flamev1.Task{want}}, load(t, s))
	})
}

func TestStore_DoesNotRetainMessages(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		in := []byte("input")
		tk := task("s", 1, in)
		ssn := session("s", "a")
		p := s.Enqueue(PutSession(ssn), CreateTask(tk))
		// The caller may change its messages as soon as Enqueue returns.
		in[0] = 'X'
		tk.Status.State = flamev1.TaskState_Failed
		ssn.Spec.Application = "changed"
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := load(t, s)
		want := &State{Sessions: []*flamev1.Session{session("s", "a")}, Tasks: []*flamev1.Task{task("s", 1, []byte("input"))}}
		diffState(t, want, st)
		// Messages returned by Load belong to the caller.
		st.Tasks[0].Spec.Input[0] = 'Y'
		st.Sessions[0].Status.Pending = 99
		diffState(t, want, load(t, s))
	})
}

func TestStore_Closed(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		commit(t, s, PutApplication(app("a", "")))
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Commit(context.Background(), PutApplication(app("b", ""))); !errors.Is(err, ErrClosed) {
			t.Errorf("Commit after Close = %v, want ErrClosed", err)
		}
		if err := s.Enqueue(PutApplication(app("b", ""))).Wait(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
		}
		if _, err := s.Load(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Load after Close = %v, want ErrClosed", err)
		}
		// Close is idempotent (the suite's cleanup closes again).
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestStore_CancelledContextAppliesNothing(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Commit(ctx, PutApplication(app("a", ""))); !errors.Is(err, context.Canceled) {
			t.Errorf("Commit with a cancelled context = %v, want context.Canceled", err)
		}
		diffState(t, &State{}, load(t, s))
	})
}

func TestStore_EmptyCommit(t *testing.T) {
	testAllStores(t, func(t *testing.T, s Store) {
		if err := s.Commit(context.Background()); err != nil {
			t.Errorf("empty Commit: %v", err)
		}
		diffState(t, &State{}, load(t, s))
	})
}

// TestStores_AgreeOnRandomHistories applies the same random mutations to the
// memory and the SQLite store (reopening the latter now and then) and
// compares what they load.
func TestStores_AgreeOnRandomHistories(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	apps := []string{"a", "b", "c"}
	sessions := []string{"s1", "s2", "s3", "s4", "s5", "s6"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	randomBytes := func() []byte {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		default:
			b := make([]byte, rng.IntN(300))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return b
		}
	}
	// Odd rounds create new tasks and update tasks only, so that the
	// SQLite store writes long runs of task rows with its multi-row
	// statements (any other mutation, and a CreateTask that replaces a
	// task, ends a run).
	tasksOnly := false
	fresh := 100 // task IDs above 20 that odd rounds create
	randomMutation := func() Mutation {
		if tasksOnly {
			sid := pick(sessions)
			if rng.IntN(2) == 0 {
				fresh++
				return CreateTask(task(sid, fresh, randomBytes()))
			}
			tk := task(sid, 101+rng.IntN(fresh-100+1), randomBytes())
			tk.Spec.Output = randomBytes()
			tk.Status.State = flamev1.TaskState_Succeed
			return UpdateTask(tk)
		}
		switch rng.IntN(20) {
		case 0:
			return DeleteApplication(pick(apps))
		case 1:
			return DeleteSession(pick(sessions))
		case 2, 3:
			return PutApplication(app(pick(apps), strconv.Itoa(rng.IntN(1000))))
		case 4, 5, 6:
			ssn := session(pick(sessions), pick(apps))
			ssn.Status.Pending = rng.Int32N(100)
			return PutSession(ssn)
		case 7, 8, 9, 10, 11:
			return CreateTask(task(pick(sessions), 1+rng.IntN(20), randomBytes()))
		default:
			tk := task(pick(sessions), 1+rng.IntN(20), randomBytes())
			tk.Spec.Output = randomBytes()
			tk.Status.State = flamev1.TaskState(rng.IntN(5))
			for range rng.IntN(4) {
				tk.Status.Events = append(tk.Status.Events, &flamev1.Event{Code: rng.Int32N(5), CreationTime: rng.Int64()})
			}
			return UpdateTask(tk)
		}
	}

	mem := NewMemory()
	defer mem.Close()
	path := filepath.Join(t.TempDir(), "flame.db")
	// Each round's groups are queued while the committer is held, so they
	// are committed in a few large batches (long runs of task rows).
	var holdMu sync.Mutex
	hold := closedChan
	held := withHooks(func() {
		holdMu.Lock()
		ch := hold
		holdMu.Unlock()
		<-ch
	}, nil)
	sq := openTestSQLite(t, path, held)
	defer func() { sq.Close() }()
	ctx := context.Background()
	for round := range 8 {
		tasksOnly = round%2 == 1
		// Concurrent Enqueues in the SQLite store, in one known order.
		var muts [][]Mutation
		for range 60 {
			group := make([]Mutation, 1+rng.IntN(4))
			for i := range group {
				group[i] = randomMutation()
			}
			muts = append(muts, group)
		}
		holdMu.Lock()
		hold = make(chan struct{})
		holdMu.Unlock()
		var pending []*Pending
		for _, group := range muts {
			if err := mem.Commit(ctx, group...); err != nil {
				t.Fatal(err)
			}
			pending = append(pending, sq.Enqueue(group...))
		}
		holdMu.Lock()
		close(hold)
		hold = closedChan
		holdMu.Unlock()
		for _, p := range pending {
			if err := p.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if round%3 == 2 {
			if err := sq.Close(); err != nil {
				t.Fatal(err)
			}
			sq = openTestSQLite(t, path, held)
		}
		diffState(t, load(t, mem), load(t, sq))
		if t.Failed() {
			t.Fatalf("stores disagree after round %d (seed %d)", round, seed)
		}
	}
}
