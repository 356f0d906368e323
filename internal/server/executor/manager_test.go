package executor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

const waitLong = 20 * time.Second

func TestManager_Lifecycle(t *testing.T) {
	te := newTestEnv(t, nil)
	fb := te.fb
	id := te.addExecutor()
	tasks := te.bind(te.app("echo-app", modeServe), "ssn-1", "a", "pid", "fail:bad input", "b")
	close(tasks) // the session closes after these four tasks

	fb.waitCount(t, id, "UnbindExecutorCompleted", 1)

	res := fb.resultsFor(id)
	if len(res) != 4 {
		t.Fatalf("got %d results, want 4", len(res))
	}
	for i, want := range []struct {
		code int32
		out  string
		msg  string
	}{{0, "a", ""}, {0, "", ""}, {-1, "", "bad input"}, {0, "b", ""}} {
		r := res[i].result
		if r.GetReturnCode() != want.code || r.GetMessage() != want.msg || (i != 1 && string(r.GetOutput()) != want.out) {
			t.Errorf("result %d = %v, want code %d output %q message %q", i+1, r, want.code, want.out, want.msg)
		}
	}
	pid, err := strconv.Atoi(string(res[1].result.GetOutput()))
	if err != nil {
		t.Fatalf("pid task output %q: %v", res[1].result.GetOutput(), err)
	}
	if !processGone(pid) {
		t.Errorf("instance process %d still exists after UnbindExecutorCompleted", pid)
	}
	// All four tasks ran on one process, entered once, left once, then
	// got SIGTERM.
	wantEvents := []string{"start serve", "enter ssn-1 echo-app common-ssn-1",
		"task 1 a", "task 2 pid", "task 3 fail:bad input", "task 4 b", "leave", "sigterm"}
	if diff := cmp.Diff(map[int][]string{pid: wantEvents}, te.events()); diff != "" {
		t.Errorf("instance events (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(te.opts.WorkDir, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("auto working directory not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(te.opts.SocketDir, id+".sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket not removed: %v", err)
	}

	// The session manager releases the idle executor.
	close(fb.release)
	fb.waitCount(t, id, "UnregisterExecutor", 1)
	want := []string{"RegisterExecutor", "BindExecutor", "BindExecutorCompleted(0)",
		"LaunchTask", "CompleteTask(0)", "LaunchTask", "CompleteTask(0)", "LaunchTask", "CompleteTask(-1)",
		"LaunchTask", "CompleteTask(0)", "LaunchTask",
		"UnbindExecutor", "UnbindExecutorCompleted", "BindExecutor", "UnregisterExecutor"}
	if diff := cmp.Diff(want, fb.ops(id)); diff != "" {
		t.Errorf("call order (-want +got):\n%s", diff)
	}
	if causes := fb.causesFor(id); len(causes) != 1 || causes[0] != nil {
		t.Errorf("UnbindExecutor causes = %v, want one nil cause", causes)
	}
	// The node registered with the configured resources.
	node := fb.firstNode()
	if node.GetMetadata().GetName() != "node-1" || node.GetStatus().GetCapacity().GetCpu() != 2 ||
		node.GetStatus().GetState() != flamev1.NodeState_Ready || node.GetStatus().GetInfo().GetOs() == "" {
		t.Errorf("registered node = %v", node)
	}
	// The released executor is forgotten.
	checkFor(t, waitLong, 5*time.Millisecond, forgotten(te.m, id))
}

func TestManager_FreshProcessPerBinding(t *testing.T) {
	te := newTestEnv(t, nil)
	id := te.addExecutor()
	app := te.app("svc", modeServe)
	close(te.bind(app, "ssn-1", "pid"))
	close(te.bind(app, "ssn-2", "pid"))
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 2)

	res := te.fb.resultsFor(id)
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2", len(res))
	}
	p1, _ := strconv.Atoi(string(res[0].result.GetOutput()))
	p2, _ := strconv.Atoi(string(res[1].result.GetOutput()))
	if p1 == 0 || p1 == p2 {
		t.Fatalf("pids %d and %d: want two different processes", p1, p2)
	}
	ev := te.events()
	for i, pid := range []int{p1, p2} {
		ssn := "ssn-" + strconv.Itoa(i+1)
		want := []string{"start serve", "enter " + ssn + " svc common-" + ssn, "task 1 pid", "leave", "sigterm"}
		if diff := cmp.Diff(want, ev[pid]); diff != "" {
			t.Errorf("events of instance %d (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestManager_InstanceEnvironment(t *testing.T) {
	flameHome := shortTempDir(t)
	site := filepath.Join(flameHome, "lib", "python3.11", "site-packages")
	if err := os.MkdirAll(filepath.Join(site, "pkg", "libs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "pkg", "libs", "_native.so"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME=/home/tester", "RUST_LOG=debug", "MGR_VAR=mgr-value",
		"TMPDIR=/manager/tmp", "PYTHONPATH=/manager/py")
	te := newTestEnv(t, func(o *Options) {
		o.Env = env
		o.ClusterEndpoint = "http://127.0.0.1:8080"
		o.CacheEndpoint = "grpc://127.0.0.1:9090"
		o.CAFile = "/etc/flame/ca.pem"
		o.FlameHome = flameHome
	})
	wd := filepath.Join(shortTempDir(t), "user-wd")
	id := te.addExecutor()
	app := te.app("env-app", modeServe, func(s *flamev1.ApplicationSpec) {
		s.WorkingDirectory = proto.String(wd)
		s.Installer = proto.String("Python")
		s.Arguments = []string{"--flag=${MGR_VAR}", "$FOO", "${UNKNOWN_ARG}"}
		s.Environments = append(s.Environments,
			&flamev1.Environment{Name: "FOO", Value: "$HOME/x"},
			&flamev1.Environment{Name: "BAR", Value: "${NOPE_NOT_SET}/y:$MGR_VAR"},
			&flamev1.Environment{Name: "PYTHONPATH", Value: "/app/py"},
		)
	})
	tasks := te.bind(app, "ssn-env", "env")
	te.fb.waitCount(t, id, "CompleteTask", 1)
	te.fb.waitFor(t, waitLong, "executor waiting for the next task", func() bool { return te.fb.waiting[id] })

	var rep instanceReport
	if err := json.Unmarshal(te.fb.resultsFor(id)[0].result.GetOutput(), &rep); err != nil {
		t.Fatal(err)
	}
	appDir := filepath.Join(wd, "work", "env-app")
	tmp := filepath.Join(appDir, "tmp")
	want := map[string]string{
		"FLAME_INSTANCE_ENDPOINT": filepath.Join(te.opts.SocketDir, id+".sock"),
		"FLAME_ENDPOINT":          "http://127.0.0.1:8080",
		"FLAME_CACHE_ENDPOINT":    "grpc://127.0.0.1:9090",
		"FLAME_CA_FILE":           "/etc/flame/ca.pem",
		"FLAME_HOME":              flameHome,
		"RUST_LOG":                "debug",
		"FLAME_LOG":               "debug",
		"HOME":                    "/home/tester",
		"FOO":                     "/home/tester/x",
		"BAR":                     "${NOPE_NOT_SET}/y:mgr-value",
		"MGR_VAR":                 "mgr-value",
		"PYTHONPATH":              site + ":/app/py",
		"LD_LIBRARY_PATH":         filepath.Join(site, "pkg", "libs"),
		"FLAME_PYTHON_VERSION":    "3.11",
		"TMPDIR":                  tmp,
		"TEMP":                    tmp,
		"TMP":                     tmp,
	}
	got := map[string]string{}
	for k := range want {
		got[k] = rep.Env[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instance environment (-want +got):\n%s", diff)
	}
	if rep.Cwd != wd {
		t.Errorf("cwd = %q, want %q", rep.Cwd, wd)
	}
	if diff := cmp.Diff([]string{"--flag=mgr-value", "/home/tester/x", "${UNKNOWN_ARG}"}, rep.Args[1:]); diff != "" {
		t.Errorf("arguments (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		t.Errorf("tmp dir while bound: %v", err)
	}

	close(tasks)
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)
	if _, err := os.Stat(appDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work/<app> not removed after unbind: %v", err)
	}
	// A user working directory stays, with the logs in it.
	for ext, line := range map[string]string{".out": "instance stdout line", ".err": "instance stderr line"} {
		data, err := os.ReadFile(filepath.Join(wd, id+ext))
		if err != nil || !strings.Contains(string(data), line) {
			t.Errorf("%s file: %q, %v; want it to contain %q", ext, data, err, line)
		}
	}
}

func TestManager_SessionEnterFailure(t *testing.T) {
	te := newTestEnv(t, nil)
	id := te.addExecutor()
	te.bind(te.app("bad-enter", modeFailEnter), "ssn-1", "never-run")
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)

	c := te.fb.lastCall(id, "BindExecutorCompleted")
	if c.code != BindSessionEnterFailed || c.msg != "on_session_enter failed: intentional session enter failure" {
		t.Errorf("bind result = %d %q", c.code, c.msg)
	}
	want := []string{"RegisterExecutor", "BindExecutor", "BindExecutorCompleted(12)", "UnbindExecutor", "UnbindExecutorCompleted"}
	if diff := cmp.Diff(want, te.fb.ops(id)[:5]); diff != "" {
		t.Errorf("call order (-want +got):\n%s", diff)
	}
	pids := te.pids()
	if len(pids) != 1 {
		t.Fatalf("instances started: %v, want 1", pids)
	}
	if diff := cmp.Diff([]string{"start fail-enter", "enter ssn-1 bad-enter common-ssn-1", "leave", "sigterm"}, te.events()[pids[0]]); diff != "" {
		t.Errorf("instance events (-want +got):\n%s", diff)
	}
	if !processGone(pids[0]) {
		t.Errorf("instance %d still exists", pids[0])
	}
}

// TestManager_BindFailures runs failing bindings one after the other on
// one executor: each reports its code, unbinds, and leaves nothing behind.
func TestManager_BindFailures(t *testing.T) {
	te := newTestEnv(t, nil)
	id := te.addExecutor()
	cases := []struct {
		name     string
		app      *flamev1.Application
		code     int32
		contains []string
	}{
		{"command not found", te.app("nocmd", modeServe, func(s *flamev1.ApplicationSpec) { s.Command = proto.String("no-such-command-flmctl") }),
			BindShimCreateFailed, []string{"shim creation failed: ", `command "no-such-command-flmctl" not found`}},
		{"no command", te.app("nocmd2", modeServe, func(s *flamev1.ApplicationSpec) { s.Command = nil }),
			BindShimCreateFailed, []string{"shim creation failed: ", "no command"}},
		{"exits before socket", te.app("early", modeExitEarly),
			BindShimCreateFailed, []string{"shim creation failed: ", "exit status 2", "boom: cannot start", "create its socket"}},
		{"crash in OnSessionEnter", te.app("crash-enter", modeCrashEnter),
			BindSessionEnterFailed, []string{"on_session_enter failed: instance process (pid ", "exit status 4", "while entering session", "enter: fatal error"}},
		{"unknown installer", te.app("conda", modeServe, func(s *flamev1.ApplicationSpec) { s.Installer = proto.String("conda") }),
			BindInstallFailed, []string{"application installation failed: Unknown installer type: conda. Supported types: binary, python"}},
		{"package url", te.app("pkg", modeServe, func(s *flamev1.ApplicationSpec) {
			s.Installer = proto.String("python")
			s.Url = proto.String("file:///tmp/pkg.tar.gz")
		}), BindInstallFailed, []string{"application installation failed: ", "does not download application packages yet"}},
		{"wasm shim", te.app("wasm", modeServe, func(s *flamev1.ApplicationSpec) { s.Shim = flamev1.Shim_Wasm }),
			BindShimCreateFailed, []string{"shim creation failed: ", "Wasm"}},
		{"no spec", &flamev1.Application{Metadata: &flamev1.Metadata{Name: "bare"}},
			BindShimCreateFailed, []string{"shim creation failed: ", "no command"}},
	}
	for i, c := range cases {
		te.bind(c.app, "ssn-"+c.name, "never-run")
		te.fb.waitCount(t, id, "UnbindExecutorCompleted", i+1)
		got := te.fb.lastCall(id, "BindExecutorCompleted")
		if got.code != c.code {
			t.Errorf("%s: code %d, want %d (message %q)", c.name, got.code, c.code, got.msg)
		}
		for _, s := range c.contains {
			if !strings.Contains(got.msg, s) {
				t.Errorf("%s: message %q does not contain %q", c.name, got.msg, s)
			}
		}
		if _, err := os.Stat(filepath.Join(te.opts.WorkDir, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: working directory left behind: %v", c.name, err)
		}
	}
	if n := len(te.fb.resultsFor(id)); n != 0 {
		t.Errorf("%d tasks ran, want none", n)
	}
	pids := te.pids()
	if len(pids) != 2 {
		t.Fatalf("instances started: %v, want 2", te.events())
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("instance %d still exists", pid)
		}
	}
	// The instance that crashed in OnSessionEnter gets no OnSessionLeave.
	if diff := cmp.Diff([]string{"start crash-enter", "enter ssn-crash in OnSessionEnter crash-enter common-ssn-crash in OnSessionEnter"}, te.events()[pids[1]]); diff != "" {
		t.Errorf("crash-enter events (-want +got):\n%s", diff)
	}
}

// TestManager_SocketWaitBounded: an instance that never creates its socket
// fails the binding after SocketWait and is stopped.
func TestManager_SocketWaitBounded(t *testing.T) {
	const wait = time.Second
	te := newTestEnv(t, func(o *Options) { o.SocketWait = wait })
	id := te.addExecutor()
	start := time.Now()
	te.bind(te.app("nosock", modeNoSocket), "ssn-1", "never-run")
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)
	if d := time.Since(start); d < wait {
		t.Errorf("binding failed after %s, before the %s socket wait", d, wait)
	}
	got := te.fb.lastCall(id, "BindExecutorCompleted")
	if got.code != BindShimCreateFailed || !strings.Contains(got.msg, "did not create its socket") || !strings.Contains(got.msg, "within 1s") {
		t.Fatalf("bind result %d %q", got.code, got.msg)
	}
	// The message names the pid: the process must be gone.
	_, rest, _ := strings.Cut(got.msg, "(pid ")
	pid, err := strconv.Atoi(rest[:strings.IndexByte(rest, ')')])
	if err != nil || !processGone(pid) {
		t.Errorf("instance %d (%v) still exists", pid, err)
	}
}

// wantCrashMessage checks the message of task taskID, failed by the
// "crash" input of the instance with pid: its exit status, the task, the
// pid and the tail of its stderr.
func wantCrashMessage(t *testing.T, msg, taskID string, pid int) {
	t.Helper()
	for _, s := range []string{"exit status 3", "while running task " + taskID, "pid " + strconv.Itoa(pid), "crash line 30"} {
		if !strings.Contains(msg, s) {
			t.Errorf("task message does not contain %q:\n%s", s, msg)
		}
	}
}

func TestManager_CrashMidTask(t *testing.T) {
	te := newTestEnv(t, nil)
	id := te.addExecutor()
	app := te.app("crashy", modeServe)
	tasks := te.bind(app, "ssn-1", "pid", "crash", "never-run")
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)

	res := te.fb.resultsFor(id)
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2 (the third task must not run on the dead instance)", len(res))
	}
	pid, _ := strconv.Atoi(string(res[0].result.GetOutput()))
	r := res[1].result
	msg := r.GetMessage()
	if r.GetReturnCode() == 0 {
		t.Errorf("crashed task succeeded: %v", r)
	}
	wantCrashMessage(t, msg, "2", pid)
	if !strings.Contains(msg, "crash line 11\n") {
		t.Errorf("task message does not contain %q:\n%s", "crash line 11\n", msg)
	}
	if strings.Contains(msg, "crash line 10\n") || strings.Contains(msg, "instance stderr line") {
		t.Errorf("task message holds more than the last 20 lines:\n%s", msg)
	}
	var ee *InstanceExitError
	if causes := te.fb.causesFor(id); len(causes) != 1 || !errors.As(causes[0], &ee) || ee.PID != pid || ee.Status != "exit status 3" {
		t.Errorf("UnbindExecutor causes = %v, want an *InstanceExitError for pid %d", causes, pid)
	}
	te.fb.waitCount(t, id, "BindExecutor", 2)
	want := []string{"RegisterExecutor", "BindExecutor", "BindExecutorCompleted(0)", "LaunchTask", "CompleteTask(0)",
		"LaunchTask", "CompleteTask(-1)", "UnbindExecutor", "UnbindExecutorCompleted", "BindExecutor"}
	if diff := cmp.Diff(want, te.fb.ops(id)); diff != "" {
		t.Errorf("call order (-want +got):\n%s", diff)
	}

	// The session manager rebinds the session: a fresh instance runs the
	// task that is left.
	te.fb.binds <- &fakeBinding{app: app, ssn: &flamev1.Session{Metadata: &flamev1.Metadata{Id: "ssn-1"}}, tasks: tasks}
	tasks <- newTask("ssn-1", 4, "pid")
	te.fb.waitCount(t, id, "CompleteTask", 4)
	res = te.fb.resultsFor(id)
	if res[2].result.GetReturnCode() != 0 || string(res[2].result.GetOutput()) != "never-run" {
		t.Errorf("task 3 on the new instance: %v", res[2].result)
	}
	if p2, _ := strconv.Atoi(string(res[3].result.GetOutput())); p2 == 0 || p2 == pid {
		t.Errorf("task 4 ran on pid %d, want a new instance (old %d)", p2, pid)
	}
}

// TestManager_FramedWire runs an instance that serves the framed wire as
// pkg/service does: every call goes over it, a failed task and a crash
// mid-task are reported as over gRPC, and GRPCOnly turns the offer off.
func TestManager_FramedWire(t *testing.T) {
	te := newTestEnv(t, nil)
	id := te.addExecutor()
	app := te.app("framed-app", modeFramed)
	tasks := te.bind(app, "ssn-1", "pid", "fail:bad input", "crash")
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)

	res := te.fb.resultsFor(id)
	if len(res) != 3 {
		t.Fatalf("got %d results, want 3", len(res))
	}
	pid, _ := strconv.Atoi(string(res[0].result.GetOutput()))
	if r := res[1].result; r.GetReturnCode() != -1 || r.GetMessage() != "bad input" {
		t.Errorf("failed task = %v, want code -1 and its message", r)
	}
	wantCrashMessage(t, res[2].result.GetMessage(), "3", pid)
	want := []string{"start framed", "framed enter", "enter ssn-1 framed-app common-ssn-1",
		"framed task", "task 1 pid", "framed task", "task 2 fail:bad input", "framed task", "task 3 crash"}
	if diff := cmp.Diff(map[int][]string{pid: want}, te.events()); diff != "" {
		t.Errorf("instance events (-want +got):\n%s", diff)
	}
	close(tasks)

	// Without the offer the same program is called over gRPC.
	te2 := newTestEnv(t, func(o *Options) { o.GRPCOnly = true })
	id2 := te2.addExecutor()
	close(te2.bind(te2.app("framed-app", modeFramed), "ssn-2", "pid"))
	te2.fb.waitCount(t, id2, "UnbindExecutorCompleted", 1)
	res = te2.fb.resultsFor(id2)
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	pid2, _ := strconv.Atoi(string(res[0].result.GetOutput()))
	want = []string{"start framed", "grpc enter", "enter ssn-2 framed-app common-ssn-2",
		"grpc task", "task 1 pid", "grpc leave", "leave", "sigterm"}
	if diff := cmp.Diff(map[int][]string{pid2: want}, te2.events()); diff != "" {
		t.Errorf("instance events with GRPCOnly (-want +got):\n%s", diff)
	}
}

func TestManager_InstanceDiesWhileIdle(t *testing.T) {
	te := newTestEnv(t, nil)
	id := te.addExecutor()
	te.bind(te.app("idle", modeServe), "ssn-1", "pid")
	te.fb.waitCount(t, id, "CompleteTask", 1)
	te.fb.waitFor(t, waitLong, "executor waiting in LaunchTask", func() bool { return te.fb.waiting[id] })
	pid, _ := strconv.Atoi(string(te.fb.resultsFor(id)[0].result.GetOutput()))
	if err := killProcess(pid); err != nil {
		t.Fatal(err)
	}
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)
	var ee *InstanceExitError
	if causes := te.fb.causesFor(id); len(causes) != 1 || !errors.As(causes[0], &ee) ||
		ee.Status != "signal: killed" || ee.During != "waiting for a task" {
		t.Errorf("UnbindExecutor causes = %v, want the instance killed while waiting for a task", causes)
	}
	if ev := te.events()[pid]; slices.Contains(ev, "leave") {
		t.Errorf("OnSessionLeave reached a dead instance: %v", ev)
	}
}

func TestManager_StopGraceThenSIGKILL(t *testing.T) {
	const grace = 300 * time.Millisecond
	te := newTestEnv(t, func(o *Options) { o.StopGrace = grace })
	id := te.addExecutor()
	tasks := te.bind(te.app("stubborn", modeIgnoreTerm), "ssn-1", "pid")
	te.fb.waitCount(t, id, "CompleteTask", 1)
	pid, _ := strconv.Atoi(string(te.fb.resultsFor(id)[0].result.GetOutput()))

	start := time.Now()
	close(tasks)
	te.fb.waitCount(t, id, "UnbindExecutorCompleted", 1)
	if d := time.Since(start); d < grace {
		t.Errorf("unbind took %s, less than the %s grace period before SIGKILL", d, grace)
	}
	if !processGone(pid) {
		t.Errorf("instance %d survived", pid)
	}
	want := []string{"start ignore-term", "enter ssn-1 stubborn common-ssn-1", "task 1 pid", "leave", "sigterm-ignored"}
	if diff := cmp.Diff(want, te.events()[pid]); diff != "" {
		t.Errorf("instance events (-want +got):\n%s", diff)
	}
}

func TestManager_StopLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fb := newFakeBackend()
	logDir := shortTempDir(t)
	opts := Options{
		Backend:   fb,
		NodeName:  "node-1",
		WorkDir:   shortTempDir(t),
		StopGrace: 300 * time.Millisecond,
		Env:       slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FLAME_SOCKET_DIR=") }),
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	te := &testEnv{t: t, fb: fb, m: m, opts: opts, logPath: filepath.Join(logDir, "instances.log")}
	a, b := te.addExecutor(), te.addExecutor()
	te.bind(te.app("svc", modeServe), "ssn-1", "pid")
	te.bind(te.app("svc", modeIgnoreTerm), "ssn-2", "pid")
	fb.waitCount(t, a, "CompleteTask", 1)
	fb.waitCount(t, b, "CompleteTask", 1)
	fb.waitFor(t, waitLong, "both executors waiting", func() bool { return fb.waiting[a] && fb.waiting[b] })
	var pids []int
	for _, id := range []string{a, b} {
		pid, _ := strconv.Atoi(string(fb.resultsFor(id)[0].result.GetOutput()))
		pids = append(pids, pid)
	}
	sockDir := m.SocketDir()

	m.Stop()
	m.Stop() // idempotent
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("instance %d still exists after Stop", pid)
		}
	}
	if _, err := os.Stat(sockDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("private socket directory %s left behind: %v", sockDir, err)
	}
	for _, id := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(opts.WorkDir, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("working directory of %s left behind: %v", id, err)
		}
	}
	if err := m.Start(); err == nil {
		t.Error("Start after Stop succeeded")
	}
}

func TestManager_RestoredStates(t *testing.T) {
	// Executors the session manager reports in other states than Void: an
	// Idle one binds without registering, a Bound one first unbinds, a
	// Releasing one unregisters.
	te := newTestEnv(t, nil)
	deliver := func(state flamev1.ExecutorState) string {
		id := "exec-" + state.String()
		te.fb.watch <- &flamev1.Executor{
			Metadata: &flamev1.Metadata{Id: id},
			Spec:     &flamev1.ExecutorSpec{Node: "node-1"},
			Status:   &flamev1.ExecutorStatus{State: state, SessionId: proto.String("old")},
		}
		return id
	}
	idle := deliver(flamev1.ExecutorState_ExecutorIdle)
	bound := deliver(flamev1.ExecutorState_ExecutorBound)
	releasing := deliver(flamev1.ExecutorState_ExecutorReleasing)
	other := &flamev1.Executor{Metadata: &flamev1.Metadata{Id: "elsewhere"}, Spec: &flamev1.ExecutorSpec{Node: "node-2"}}
	te.fb.watch <- other

	te.fb.waitCount(t, idle, "BindExecutor", 1)
	te.fb.waitCount(t, bound, "BindExecutor", 1)
	te.fb.waitCount(t, releasing, "UnregisterExecutor", 1)
	for id, want := range map[string][]string{
		idle:        {"BindExecutor"},
		bound:       {"UnbindExecutor", "UnbindExecutorCompleted", "BindExecutor"},
		releasing:   {"UnregisterExecutor"},
		"elsewhere": nil,
	} {
		if diff := cmp.Diff(want, te.fb.ops(id)); diff != "" {
			t.Errorf("%s calls (-want +got):\n%s", id, diff)
		}
	}
	// Released drops a known executor; its pending BindExecutor ends.
	te.fb.watch <- &flamev1.Executor{Metadata: &flamev1.Metadata{Id: idle}, Status: &flamev1.ExecutorStatus{State: flamev1.ExecutorState_ExecutorReleased}}
	checkFor(t, waitLong, 5*time.Millisecond, forgotten(te.m, idle))
}

func TestNew_Validation(t *testing.T) {
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Backend") {
		t.Errorf("New without a backend: %v", err)
	}
	long := filepath.Join(shortTempDir(t), strings.Repeat("d", 80))
	_, err := New(Options{Backend: newFakeBackend(), NodeName: "n", SocketDir: long})
	if err == nil || !strings.Contains(err.Error(), "too long") || !strings.Contains(err.Error(), "FLAME_SOCKET_DIR") {
		t.Errorf("New with a long socket dir: %v", err)
	}
	env := []string{"FLAME_SOCKET_DIR=" + filepath.Join(shortTempDir(t), "socks"), "FLAME_HOME=/flame/home"}
	m, err := New(Options{Backend: newFakeBackend(), NodeName: "n", Env: env})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if got, want := m.SocketDir(), strings.TrimPrefix(env[0], "FLAME_SOCKET_DIR="); got != want {
		t.Errorf("socket dir = %q, want %q from FLAME_SOCKET_DIR", got, want)
	}
	if fi, err := os.Stat(m.SocketDir()); err != nil || !fi.IsDir() {
		t.Errorf("socket dir not created: %v", err)
	}
	if m.flameHome != "/flame/home" {
		t.Errorf("flame home = %q", m.flameHome)
	}
}

// TestManager_SharedWorkingDirectory: two executors of one application
// with a working_directory share work/<app>; it stays until the last
// binding ends.
func TestManager_SharedWorkingDirectory(t *testing.T) {
	te := newTestEnv(t, nil)
	wd := shortTempDir(t)
	app := te.app("shared", modeServe, func(s *flamev1.ApplicationSpec) { s.WorkingDirectory = proto.String(wd) })
	a, b := te.addExecutor(), te.addExecutor()
	te.bind(app, "ssn-1", "pid")
	te.bind(app, "ssn-2", "pid")
	te.fb.waitCount(t, a, "CompleteTask", 1)
	te.fb.waitCount(t, b, "CompleteTask", 1)
	tmp := filepath.Join(wd, "work", "shared", "tmp")

	close(te.fb.bindingOf(a).tasks)
	te.fb.waitCount(t, a, "UnbindExecutorCompleted", 1)
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		t.Fatalf("tmp dir of the binding still running was removed: %v", err)
	}
	close(te.fb.bindingOf(b).tasks)
	te.fb.waitCount(t, b, "UnbindExecutorCompleted", 1)
	if _, err := os.Stat(filepath.Join(wd, "work", "shared")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work/shared not removed after the last binding: %v", err)
	}
}
