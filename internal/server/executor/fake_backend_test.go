package executor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"github.com/google/uuid"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fakeBackend is an in-memory stand-in for the session manager. The test
// feeds it executors (watch), bindings (binds) and tasks (each binding's
// tasks channel; closing it closes the session), and it records every call.
type fakeBackend struct {
	watch   chan *flamev1.Executor // delivered by WatchNode
	binds   chan *fakeBinding      // handed out by BindExecutor, in order
	release chan struct{}          // closed: BindExecutor answers "release"

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every recorded change
	calls   []fakeCall
	nodes   []*flamev1.Node
	current map[string]*fakeBinding // executor → binding
	waiting map[string]bool         // executor → inside LaunchTask
	results []fakeResult
	causes  map[string][]error // executor → UnbindExecutor causes
}

type fakeBinding struct {
	app   *flamev1.Application
	ssn   *flamev1.Session
	tasks chan *flamev1.Task // closed → LaunchTask returns no task
}

type fakeCall struct {
	op, id string
	code   int32  // BindExecutorCompleted / CompleteTask return code
	msg    string // their message
}

func (c fakeCall) String() string {
	switch c.op {
	case "BindExecutorCompleted", "CompleteTask":
		return fmt.Sprintf("%s(%d)", c.op, c.code)
	}
	return c.op
}

type fakeResult struct {
	id     string // executor
	result *flamev1.TaskResult
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		watch:   make(chan *flamev1.Executor, 16),
		binds:   make(chan *fakeBinding, 16),
		release: make(chan struct{}),
		changed: make(chan struct{}),
		current: map[string]*fakeBinding{},
		waiting: map[string]bool{},
		causes:  map[string][]error{},
	}
}

// record runs f under the lock and wakes waiters. f.mu must not be held.
func (f *fakeBackend) record(fn func()) {
	f.mu.Lock()
	fn()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeBackend) addCall(c fakeCall) { f.record(func() { f.calls = append(f.calls, c) }) }

// waitFor waits until cond (run under the lock) holds, failing the test
// after timeout.
func (f *fakeBackend) waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, ch := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; calls: %v", timeout, what, f.ops(""))
		}
	}
}

// ops lists the calls for executor id ("" = all), as strings.
func (f *fakeBackend) ops(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opsLocked(id)
}

// opsLocked: f.mu must be held.
func (f *fakeBackend) opsLocked(id string) []string {
	var out []string
	for _, c := range f.calls {
		if id == "" || c.id == id {
			out = append(out, c.String())
		}
	}
	return out
}

// countLocked counts calls of op for id. f.mu must be held.
func (f *fakeBackend) countLocked(id, op string) int {
	n := 0
	for _, c := range f.calls {
		if c.id == id && c.op == op {
			n++
		}
	}
	return n
}

// waitCount waits until executor id made n calls of op.
func (f *fakeBackend) waitCount(t testing.TB, id, op string, n int) {
	t.Helper()
	f.waitFor(t, 20*time.Second, fmt.Sprintf("%d× %s of %s", n, op, id), func() bool { return f.countLocked(id, op) >= n })
}

// lastCall returns the last call of op for id.
func (f *fakeBackend) lastCall(id, op string) fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if c := f.calls[i]; c.id == id && c.op == op {
			return c
		}
	}
	return fakeCall{}
}

func (f *fakeBackend) resultsFor(id string) []fakeResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeResult
	for _, r := range f.results {
		if r.id == id {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeBackend) RegisterNode(_ context.Context, node *flamev1.Node, _ []*flamev1.Executor) error {
	f.record(func() {
		f.nodes = append(f.nodes, node)
		f.calls = append(f.calls, fakeCall{op: "RegisterNode", id: node.GetMetadata().GetName()})
	})
	return nil
}

func (f *fakeBackend) WatchNode(ctx context.Context, _ string, status func() *flamev1.NodeStatus, deliver func(*flamev1.Executor)) error {
	_ = status()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case x := <-f.watch:
			deliver(x)
		}
	}
}

func (f *fakeBackend) RegisterExecutor(_ context.Context, id string, spec *flamev1.ExecutorSpec) error {
	if spec.GetShim() != flamev1.Shim_Host || spec.GetNode() == "" {
		return fmt.Errorf("bad executor spec %v", spec)
	}
	f.addCall(fakeCall{op: "RegisterExecutor", id: id})
	return nil
}

func ctxErr(ctx context.Context) error { return status.FromContextError(ctx.Err()).Err() }

func (f *fakeBackend) BindExecutor(ctx context.Context, id string) (*flamev1.Application, *flamev1.Session, error) {
	f.addCall(fakeCall{op: "BindExecutor", id: id})
	select {
	case <-ctx.Done():
		return nil, nil, ctxErr(ctx)
	case <-f.release:
		return nil, nil, nil
	case b := <-f.binds:
		f.record(func() { f.current[id] = b })
		return b.app, b.ssn, nil
	}
}

func (f *fakeBackend) BindExecutorCompleted(_ context.Context, id string, res *flamev1.Result) error {
	f.addCall(fakeCall{op: "BindExecutorCompleted", id: id, code: res.GetReturnCode(), msg: res.GetMessage()})
	return nil
}

func (f *fakeBackend) LaunchTask(ctx context.Context, id string) (*flamev1.Task, error) {
	var b *fakeBinding
	f.record(func() {
		f.calls = append(f.calls, fakeCall{op: "LaunchTask", id: id})
		b = f.current[id]
		f.waiting[id] = true
	})
	defer f.record(func() { f.waiting[id] = false })
	if b == nil {
		return nil, nil
	}
	select {
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	case t, ok := <-b.tasks:
		if !ok {
			return nil, nil
		}
		return t, nil
	}
}

func (f *fakeBackend) CompleteTask(_ context.Context, id string, res *flamev1.TaskResult) error {
	f.record(func() {
		f.calls = append(f.calls, fakeCall{op: "CompleteTask", id: id, code: res.GetReturnCode(), msg: res.GetMessage()})
		f.results = append(f.results, fakeResult{id: id, result: res})
	})
	return nil
}

func (f *fakeBackend) UnbindExecutor(_ context.Context, id string, cause error) error {
	f.record(func() {
		f.calls = append(f.calls, fakeCall{op: "UnbindExecutor", id: id})
		f.causes[id] = append(f.causes[id], cause)
		delete(f.current, id)
	})
	return nil
}

func (f *fakeBackend) UnbindExecutorCompleted(_ context.Context, id string) error {
	f.addCall(fakeCall{op: "UnbindExecutorCompleted", id: id})
	return nil
}

func (f *fakeBackend) UnregisterExecutor(_ context.Context, id string) error {
	f.addCall(fakeCall{op: "UnregisterExecutor", id: id})
	return nil
}

// ---- helpers shared by the tests ----

// shortTempDir makes a temp directory with a short path (t.TempDir paths
// embed the test name and can push socket paths over 107 bytes).
func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

type testEnv struct {
	t       testing.TB
	fb      *fakeBackend
	m       *Manager
	opts    Options
	logPath string // the instances' event log
}

// newTestEnv starts a Manager on a fake backend. mutate may adjust the
// options before New.
func newTestEnv(t testing.TB, mutate func(*Options)) *testEnv {
	t.Helper()
	fb := newFakeBackend()
	opts := Options{
		Backend:    fb,
		NodeName:   "node-1",
		WorkDir:    shortTempDir(t),
		SocketDir:  shortTempDir(t),
		Env:        os.Environ(),
		SocketWait: 20 * time.Second,
		StopGrace:  5 * time.Second,
		Resources:  &flamev1.ResourceRequirement{Cpu: 2, Memory: 4 << 30},
	}
	if mutate != nil {
		mutate(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return &testEnv{t: t, fb: fb, m: m, opts: opts, logPath: filepath.Join(shortTempDir(t), "instances.log")}
}

// addExecutor delivers a new Void executor to the manager and returns its id.
func (te *testEnv) addExecutor() string {
	id := uuid.NewString()
	te.fb.watch <- &flamev1.Executor{
		Metadata: &flamev1.Metadata{Id: id},
		Spec:     &flamev1.ExecutorSpec{Node: "node-1", Resreq: &flamev1.ResourceRequirement{Cpu: 1, Memory: 1 << 30}},
		Status:   &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorVoid},
	}
	return id
}

// app returns an application whose instance is the test binary in mode.
func (te *testEnv) app(name, mode string, mods ...func(*flamev1.ApplicationSpec)) *flamev1.Application {
	exe, err := os.Executable()
	if err != nil {
		te.t.Fatal(err)
	}
	spec := &flamev1.ApplicationSpec{
		Shim:    flamev1.Shim_Host,
		Command: proto.String(exe),
		Environments: []*flamev1.Environment{
			{Name: instanceModeEnv, Value: mode},
			{Name: instanceLogEnv, Value: te.logPath},
		},
	}
	for _, f := range mods {
		f(spec)
	}
	return &flamev1.Application{Metadata: &flamev1.Metadata{Id: name, Name: name}, Spec: spec}
}

// bind queues a binding of app to a new session with the given tasks (the
// tasks channel is returned open, so the executor waits for more).
func (te *testEnv) bind(app *flamev1.Application, ssnID string, inputs ...string) chan *flamev1.Task {
	tasks := make(chan *flamev1.Task, len(inputs)+8)
	for i, in := range inputs {
		tasks <- newTask(ssnID, i+1, in)
	}
	te.fb.binds <- &fakeBinding{
		app: app,
		ssn: &flamev1.Session{
			Metadata: &flamev1.Metadata{Id: ssnID},
			Spec:     &flamev1.SessionSpec{Application: app.GetMetadata().GetName(), CommonData: []byte("common-" + ssnID)},
		},
		tasks: tasks,
	}
	return tasks
}

func newTask(ssnID string, n int, input string) *flamev1.Task {
	return &flamev1.Task{
		Metadata: &flamev1.Metadata{Id: strconv.Itoa(n)},
		Spec:     &flamev1.TaskSpec{SessionId: ssnID, Input: []byte(input)},
	}
}

// events returns the instance log as pid → events, in order.
func (te *testEnv) events() map[int][]string {
	te.t.Helper()
	out := map[int][]string{}
	f, err := os.Open(te.logPath)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		te.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p, ev, _ := strings.Cut(sc.Text(), " ")
		pid, err := strconv.Atoi(p)
		if err != nil {
			te.t.Fatalf("bad log line %q", sc.Text())
		}
		out[pid] = append(out[pid], ev)
	}
	return out
}

// pids returns the instance pids in the order they started.
func (te *testEnv) pids() []int {
	te.t.Helper()
	var out []int
	seen := map[int]bool{}
	data, _ := os.ReadFile(te.logPath)
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		p, _, _ := strings.Cut(line, " ")
		if pid, err := strconv.Atoi(p); err == nil && !seen[pid] {
			seen[pid] = true
			out = append(out, pid)
		}
	}
	return out
}

// processGone reports whether no process has the id pid any more.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// causesFor returns the UnbindExecutor causes recorded for id.
func (f *fakeBackend) causesFor(id string) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.causes[id])
}

// firstNode returns the node of the first RegisterNode call.
func (f *fakeBackend) firstNode() *flamev1.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.nodes) == 0 {
		return nil
	}
	return f.nodes[0]
}

// checkFor calls f every tick until it returns nil, failing the test with
// f's last error after total (R24). For conditions on the manager's side,
// which the fake backend is not told about.
func checkFor(t testing.TB, total, tick time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		<-tk.C
	}
}

// forgotten reports an error while m still tracks executor id.
func forgotten(m *Manager, id string) func() error {
	return func() error {
		for _, x := range m.Executors() {
			if x.GetMetadata().GetId() == id {
				return fmt.Errorf("executor %s still tracked in state %s", id, x.GetStatus().GetState())
			}
		}
		return nil
	}
}

// bindingOf returns the binding executor id currently has.
func (f *fakeBackend) bindingOf(id string) *fakeBinding {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current[id]
}
