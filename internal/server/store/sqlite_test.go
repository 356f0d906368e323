package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// checkFor polls cond until it returns nil or the deadline passes, and
// reports the last error. It yields instead of sleeping.
func checkFor(t *testing.T, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		runtime.Gosched()
	}
}

// gate blocks the committer hooks until opened.
type gate struct {
	entered chan struct{} // receives each time a hook starts waiting
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 100), open: make(chan struct{})}
}

func (g *gate) wait() {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.open
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func TestSQLite_Settings(t *testing.T) {
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "flame.db"))
	defer s.Close()
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"locking_mode", "exclusive"},
	} {
		var got string
		if err := s.db.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %q, want %q", c.pragma, got, c.want)
		}
	}
	var version int
	if err := s.db.QueryRow("SELECT version FROM schema_version").Scan(&version); err != nil || version != schemaVersion {
		t.Errorf("schema_version = %d, %v; want %d", version, err, schemaVersion)
	}
}

func TestSQLite_SecondOpenerFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flame.db")
	s := openTestSQLite(t, path)
	defer s.Close()
	s2, err := OpenSQLite(path)
	if err == nil {
		s2.Close()
		t.Fatal("second OpenSQLite of a file in use succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("error = %v, want it to say the file is locked by another process", err)
	}
	// The first store is unaffected, and the file is free again after Close.
	commit(t, s, PutApplication(app("a", "")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := openTestSQLite(t, path)
	defer s3.Close()
	diffState(t, &State{Applications: []*flamev1.Application{app("a", "")}}, load(t, s3))
}

func TestSQLite_PathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%e&f=g")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flame.db")
	s := openTestSQLite(t, path)
	commit(t, s, PutApplication(app("a", "")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the given path: %v", err)
	}
	s = openTestSQLite(t, path)
	defer s.Close()
	diffState(t, &State{Applications: []*flamev1.Application{app("a", "")}}, load(t, s))
}

func TestSQLite_RejectsForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := OpenSQLite(path)
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite of a foreign database succeeded")
	}
	if !strings.Contains(err.Error(), "not an flmctl store") {
		t.Errorf("error = %v, want it to say the file is not an flmctl store", err)
	}
}

func TestSQLite_RejectsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flame.db")
	s := openTestSQLite(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = OpenSQLite(path)
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), "newer flmctl") {
		t.Errorf("error = %v, want it to name version 99 and ask for a newer flmctl", err)
	}
}

func TestSQLite_CancelWhileQueued(t *testing.T) {
	g := newGate()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "flame.db"), withHooks(g.wait, nil))
	defer s.Close()
	defer g.release()

	first := s.Enqueue(PutApplication(app("first", "")))
	ctx, cancel := context.WithCancel(context.Background())
	withdrawn := s.Enqueue(PutApplication(app("withdrawn", "")))
	cancel()
	if err := withdrawn.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
	// Every later Wait agrees.
	if err := withdrawn.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("second Wait = %v, want context.Canceled", err)
	}
	g.release()
	if err := first.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	commit(t, s, PutApplication(app("last", "")))
	diffState(t, &State{Applications: []*flamev1.Application{app("first", ""), app("last", "")}}, load(t, s))
}

func TestSQLite_CancelAfterTakenWaitsForOutcome(t *testing.T) {
	g := newGate()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "flame.db"), withHooks(nil, g.wait))
	defer s.Close()
	defer g.release()

	ctx, cancel := context.WithCancel(context.Background())
	p := s.Enqueue(PutApplication(app("a", "")))
	<-g.entered // the committer has taken p into a transaction
	cancel()
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx) }()
	g.release()
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v, want nil: a taken request must report the transaction's outcome", err)
	}
	diffState(t, &State{Applications: []*flamev1.Application{app("a", "")}}, load(t, s))
}

func TestSQLite_CloseCommitsQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flame.db")
	g := newGate()
	s := openTestSQLite(t, path, withHooks(g.wait, nil))
	defer g.release()

	var queued []*Pending
	var want []*flamev1.Application
	for _, name := range []string{"a", "b", "c", "d"} {
		queued = append(queued, s.Enqueue(PutApplication(app(name, ""))))
		want = append(want, app(name, ""))
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	checkFor(t, 10*time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			return errors.New("Close has not started yet")
		}
		return nil
	})
	if err := s.Commit(context.Background(), PutApplication(app("late", ""))); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit during Close = %v, want ErrClosed", err)
	}
	g.release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, p := range queued {
		if err := p.Wait(context.Background()); err != nil {
			t.Errorf("request queued before Close: %v, want committed", err)
		}
	}
	s = openTestSQLite(t, path)
	defer s.Close()
	diffState(t, &State{Applications: want}, load(t, s))
}

func TestSQLite_FailedBatchFailsEveryWaiter(t *testing.T) {
	g := newGate()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "flame.db"), withHooks(g.wait, nil))
	defer s.Close()
	defer g.release()
	<-g.entered // the committer is parked; the connection is free

	// Break the next transaction: inserting an input will fail.
	if _, err := s.db.Exec(`ALTER TABLE task_inputs RENAME TO task_inputs_away`); err != nil {
		t.Fatal(err)
	}
	batch := []*Pending{
		s.Enqueue(PutSession(session("s", "a"))),
		s.Enqueue(CreateTask(task("s", 1, nil))),
		s.Enqueue(CreateTask(task("s", 2, []byte("input")))),
		s.Enqueue(PutApplication(app("a", ""))),
	}
	g.release()
	var first error
	for i, p := range batch {
		err := p.Wait(context.Background())
		if err == nil {
			t.Fatalf("request %d of the failed batch succeeded", i)
		}
		if first == nil {
			first = err
		} else if err != first {
			t.Errorf("request %d error %v, want the batch's error %v", i, err, first)
		}
	}
	if !strings.Contains(first.Error(), "CreateTask(s/2)") {
		t.Errorf("batch error %q does not name the failing mutation CreateTask(s/2)", first)
	}
	if _, err := s.db.Exec(`ALTER TABLE task_inputs_away RENAME TO task_inputs`); err != nil {
		t.Fatal(err)
	}
	// Nothing of the batch is stored, and the committer's task map agrees:
	// updating task 1 is a no-op, creating it works.
	commit(t, s, UpdateTask(succeeded(task("s", 1, nil), []byte("out"))))
	diffState(t, &State{}, load(t, s))
	t2 := task("s", 2, []byte("again"))
	commit(t, s, CreateTask(t2))
	diffState(t, &State{Tasks: []*flamev1.Task{t2}}, load(t, s))
}

func TestSQLite_BatchLimits(t *testing.T) {
	g := newGate()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "flame.db"), WithMaxBatch(3, 0), withHooks(g.wait, nil))
	defer s.Close()
	defer g.release()

	var ps []*Pending
	for i := 1; i <= 10; i++ {
		ps = append(ps, s.Enqueue(CreateTask(task("s", i, nil))))
	}
	var big []Mutation
	for i := 11; i <= 17; i++ {
		big = append(big, CreateTask(task("s", i, nil)))
	}
	ps = append(ps, s.Enqueue(big...)) // larger than the limit: a batch of its own
	g.release()
	for _, p := range ps {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// [1 2 3] [4 5 6] [7 8 9] [10] [11..17]
	if got := s.nBatches.Load(); got != 5 {
		t.Errorf("%d transactions, want 5", got)
	}
	if got := s.nMutations.Load(); got != 17 {
		t.Errorf("%d mutations committed, want 17", got)
	}
	if st := load(t, s); len(st.Tasks) != 17 {
		t.Errorf("Load: %d tasks, want 17", len(st.Tasks))
	}
}

func TestSQLite_UpdateDoesNotRewriteInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flame.db")
	s := openTestSQLite(t, path)
	defer s.Close()
	// Keep every frame in the WAL so its size counts what was written.
	if _, err := s.db.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		t.Fatal(err)
	}
	input := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tk := task("s", 1, input)
	commit(t, s, PutSession(session("s", "a")), CreateTask(tk))
	before := fileSize(t, path+"-wal")
	const updates = 20
	for i := range updates {
		u := succeeded(tk, make([]byte, 100*i)) // the record grows each time
		commit(t, s, UpdateTask(u))
	}
	grown := fileSize(t, path+"-wal") - before
	t.Logf("%d updates grew the WAL by %d bytes", updates, grown)
	// Rewriting the input would add at least 20 × 1 MiB.
	if grown > 512<<10 {
		t.Errorf("%d updates grew the WAL by %d bytes; the input is being rewritten", updates, grown)
	}
	st := load(t, s)
	if len(st.Tasks) != 1 || string(st.Tasks[0].GetSpec().GetInput()) != string(input) {
		t.Fatal("input lost")
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestSQLite_ReopenKeepsTaskKeys(t *testing.T) {
	// After a restart the committer must find tasks created before it, for
	// updates, replacements and cascading deletes.
	path := filepath.Join(t.TempDir(), "flame.db")
	s := openTestSQLite(t, path)
	commit(t, s, PutApplication(app("a", "")), PutSession(session("s1", "a")), PutSession(session("s2", "a")))
	for i := 1; i <= 50; i++ {
		commit(t, s, CreateTask(task("s1", i, []byte("x"))), CreateTask(task("s2", i, []byte("y"))))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestSQLite(t, path)
	defer s.Close()
	done := succeeded(task("s2", 7, nil), []byte("out"))
	commit(t, s, DeleteSession("s1"), UpdateTask(done), CreateTask(task("s2", 8, nil)))
	st := load(t, s)
	if len(st.Tasks) != 50 || len(st.Sessions) != 1 {
		t.Fatalf("Load: %d sessions, %d tasks; want 1, 50", len(st.Sessions), len(st.Tasks))
	}
	if got := st.Tasks[6]; got.GetStatus().GetState() != flamev1.TaskState_Succeed || string(got.GetSpec().GetInput()) != "y" {
		t.Errorf("task s2/7 = %v, want succeeded with input y", got)
	}
	if got := st.Tasks[7]; got.GetSpec().Input != nil {
		t.Errorf("task s2/8 input = %q, want absent after CreateTask replaced it", got.GetSpec().GetInput())
	}
	var inputs int
	if err := s.db.QueryRow(`SELECT count(*) FROM task_inputs`).Scan(&inputs); err != nil || inputs != 49 {
		t.Errorf("%d stored inputs, %v; want 49 (deleted and replaced tasks leave none behind)", inputs, err)
	}
}
