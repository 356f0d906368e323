package local_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flmctl/flmctl/internal/server/executor"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// startCluster starts an in-memory cluster and connects to it; both are
// stopped when the test ends.
func startCluster(t *testing.T, opts local.Options) (*local.Cluster, *client.Connection) {
	t.Helper()
	ctx := t.Context()
	if opts.StopGrace == 0 {
		opts.StopGrace = 2 * time.Second
	}
	if opts.Logger == nil && os.Getenv("FLMCTL_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := local.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	conn, err := client.Connect(ctx, c.Endpoints().Frontend)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return c, conn
}

// registerTestApp registers this test binary as an application running the
// test service in the given mode.
func registerTestApp(t *testing.T, conn *client.Connection, name, mode string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = conn.RegisterApplication(t.Context(), name, client.ApplicationAttributes{
		Command:      exe,
		Arguments:    []string{"-test.run=^$"},
		Environments: map[string]string{serviceEnv: mode},
	})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
}

// echoSession registers the test service as "echo" and opens a session of
// it.
func echoSession(t *testing.T, conn *client.Connection) *client.Session {
	t.Helper()
	registerTestApp(t, conn, "echo", "echo")
	ssn, err := conn.CreateSession(t.Context(), client.SessionAttributes{Application: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	return ssn
}

// waitFor polls cond until it returns nil or the deadline passes, then fails
// with cond's last error.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		<-time.After(tick)
		tick = min(2*tick, 50*time.Millisecond)
	}
}

func TestApplicationLifecycle(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()

	apps, err := conn.ListApplications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "flmexec,flmping,flmrun" {
		t.Fatalf("default applications = %s, want flmexec,flmping,flmrun", got)
	}

	registerTestApp(t, conn, "echo", "echo")
	app, err := conn.GetApplication(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	if app.State != client.ApplicationEnabled || app.URL != "" || app.MaxInstances == nil || *app.MaxInstances != 1000000 {
		t.Fatalf("unexpected application: %+v", app)
	}
	if err := conn.RegisterApplication(ctx, "echo", client.ApplicationAttributes{Command: "x"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate register: %v", err)
	}
	if err := conn.RegisterApplication(ctx, "../bad", client.ApplicationAttributes{}); err == nil {
		t.Fatal("invalid name accepted")
	}
	if err := conn.RegisterApplication(ctx, "rel", client.ApplicationAttributes{WorkingDirectory: "relative/dir"}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("relative working directory: %v", err)
	}
	if err := conn.UpdateApplication(ctx, "echo", client.ApplicationAttributes{Command: "/bin/true", Description: "updated"}); err != nil {
		t.Fatal(err)
	}
	if app, err = conn.GetApplication(ctx, "echo"); err != nil || app.Description != "updated" {
		t.Fatalf("after update: %+v, %v", app, err)
	}

	// An open session blocks unregistering; a closed one is removed with it.
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.UnregisterApplication(ctx, "echo"); err == nil || !strings.Contains(err.Error(), "open sessions") {
		t.Fatalf("unregister with an open session: %v", err)
	}
	if err := ssn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.UnregisterApplication(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.GetApplication(ctx, "echo"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after unregister: %v", err)
	}
	if _, err := conn.GetSession(ctx, ssn.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("closed session of an unregistered application: %v", err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	registerTestApp(t, conn, "echo", "echo")

	if _, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "nope"}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown application: %v", err)
	}
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo", CommonData: []byte("common")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ssn.ID(), "echo-") || len(ssn.ID()) != len("echo-")+6 || string(ssn.CommonData()) != "common" || ssn.State() != client.SessionOpen {
		t.Fatalf("created session: id %q common %q state %v", ssn.ID(), ssn.CommonData(), ssn.State())
	}
	if out, err := ssn.Invoke(ctx, []byte("common")); err != nil || string(out) != "common" {
		t.Fatalf("the service saw common data %q, %v", out, err)
	}
	if _, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo", ID: ssn.ID()}); !errors.Is(err, client.ErrAlreadyExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	if _, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo", ID: "a:b"}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("id with a colon: %v", err)
	}

	// OpenSession: get, matching spec, mismatching spec, create.
	max10 := uint32(10)
	if _, err := conn.OpenSession(ctx, ssn.ID(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.OpenSession(ctx, ssn.ID(), &client.SessionAttributes{Application: "echo"}); err != nil {
		t.Fatalf("open with the same spec: %v", err)
	}
	_, err = conn.OpenSession(ctx, ssn.ID(), &client.SessionAttributes{Application: "echo", MaxInstances: &max10})
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "spec mismatch") || !strings.Contains(err.Error(), "max_instances") {
		t.Fatalf("open with another spec: %v", err)
	}
	if _, err := conn.OpenSession(ctx, "missing", nil); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
	opened, err := conn.OpenSession(ctx, "made-by-open", &client.SessionAttributes{Application: "echo", MaxInstances: &max10})
	if err != nil || opened.ID() != "made-by-open" {
		t.Fatalf("open-create: %v", err)
	}

	// Pending tasks are cancelled by close; close is idempotent.
	if _, err := opened.CreateTask(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	closed, err := conn.CloseSession(ctx, opened.ID())
	if err != nil {
		t.Fatal(err)
	}
	if closed.State() != client.SessionClosed || closed.CompletionTime().IsZero() {
		t.Fatalf("closed session: %v %v", closed.State(), closed.CompletionTime())
	}
	if _, err := conn.CloseSession(ctx, opened.ID()); err != nil {
		t.Fatalf("close again: %v", err)
	}
	if _, err := opened.CreateTask(ctx, []byte("y")); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("task in a closed session: %v", err)
	}
	if _, err := conn.OpenSession(ctx, opened.ID(), nil); !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("open a closed session: %v", err)
	}

	list, err := conn.ListSessions(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d sessions, %v", len(list), err)
	}
	if _, err := conn.DeleteSession(ctx, ssn.ID()); !errors.Is(err, client.ErrInvalidState) {
		t.Fatalf("delete an open session: %v", err)
	}
	if _, err := conn.DeleteSession(ctx, opened.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.GetSession(ctx, opened.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get a deleted session: %v", err)
	}
}

func TestTasks(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	ssn := echoSession(t, conn)

	out, err := ssn.Invoke(ctx, []byte("hello"))
	if err != nil || string(out) != "hello" {
		t.Fatalf("invoke = %q, %v", out, err)
	}

	// Sequential tasks run on the same instance, entered once.
	var first string
	for i := 1; i <= 3; i++ {
		out, err := ssn.Invoke(ctx, []byte("whoami"))
		if err != nil {
			t.Fatal(err)
		}
		pid, enters, n := "", 0, 0
		if _, err := fmt.Sscanf(strings.ReplaceAll(string(out), "/", " "), "%s %d %d", &pid, &enters, &n); err != nil {
			t.Fatalf("whoami output %q: %v", out, err)
		}
		if first == "" {
			first = pid
		}
		if pid != first || enters != 1 || n != i+1 {
			t.Fatalf("task %d ran on %s (enters %d, task %d), want %s/1/%d", i, pid, enters, n, first, i+1)
		}
	}

	// A failing task fails with its message as a code-3 event; the next one works.
	_, err = ssn.Invoke(ctx, []byte("fail:Test error in task"))
	var tf *client.TaskFailedError
	if !errors.As(err, &tf) || !strings.Contains(err.Error(), "Test error in task") {
		t.Fatalf("failing task: %v", err)
	}
	task, err := ssn.GetTask(ctx, tf.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != client.TaskFailed || !hasEvent(task.Events, 3, "Test error in task") {
		t.Fatalf("failed task: state %v events %+v", task.State, task.Events)
	}
	// A panicking handler fails its task; the instance keeps serving.
	if _, err := ssn.Invoke(ctx, []byte("panic")); err == nil || !strings.Contains(err.Error(), "panic: boom on purpose") {
		t.Fatalf("panicking task: %v", err)
	}
	if out, err := ssn.Invoke(ctx, []byte("after")); err != nil || string(out) != "after" {
		t.Fatalf("task after a failure: %q %v", out, err)
	}

	// Watch: Running (maybe) then Succeed with the output.
	created, err := ssn.CreateTask(ctx, []byte("watched"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := ssn.WatchTask(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	final, err := w.Wait()
	if err != nil || final.State != client.TaskSucceed || string(final.Output) != "watched" {
		t.Fatalf("watch: %+v %v", final, err)
	}
	// A finished task yields one message.
	w, err = ssn.WatchTask(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final, err := w.Wait(); err != nil || final.State != client.TaskSucceed {
		t.Fatalf("watch a finished task: %v %v", final, err)
	}
	if _, err := ssn.WatchTask(ctx, "999"); err == nil {
		if _, err := (mustWatch(t, ssn, "999")).Next(); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("watch a missing task: %v", err)
		}
	} else if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("watch a missing task: %v", err)
	}

	// List: every task in id order.
	var ids []string
	for task, err := range ssn.ListTasks(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	if got := strings.Join(ids, ","); got != "1,2,3,4,5,6,7,8" {
		t.Fatalf("listed tasks %s", got)
	}
	if err := ssn.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c := ssn.Counts(); c.Succeed != 6 || c.Failed != 2 || c.Pending+c.Running != 0 {
		t.Fatalf("counts %+v", c)
	}

	// Futures: many in flight.
	var futures []*client.Future
	for i := range 200 {
		futures = append(futures, ssn.Run(ctx, fmt.Appendf(nil, "f%d", i)))
	}
	for i, f := range futures {
		out, err := f.Wait(ctx)
		if err != nil || string(out) != fmt.Sprintf("f%d", i) {
			t.Fatalf("future %d = %q, %v", i, out, err)
		}
	}
}

func mustWatch(t *testing.T, ssn *client.Session, id string) *client.TaskWatcher {
	t.Helper()
	w, err := ssn.WatchTask(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func hasEvent(events []client.Event, code int32, text string) bool {
	for _, e := range events {
		if e.Code == code && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

func TestBindFailureRetryLimit(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	registerTestApp(t, conn, "broken", "fail-enter")
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "broken"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssn.CreateTask(ctx, []byte("never runs")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() error {
		if err := ssn.Refresh(ctx); err != nil {
			return err
		}
		if !hasEvent(ssn.Events(), 1002, "retry limit reached") {
			return fmt.Errorf("no retry-limit event yet; events: %+v", ssn.Events())
		}
		return nil
	})
	n := 0
	for _, e := range ssn.Events() {
		if e.Code == 1001 {
			n++
			if !strings.Contains(e.Message, "failed to bind session") || !strings.Contains(e.Message, "intentional session enter failure") {
				t.Fatalf("bind failure event: %q", e.Message)
			}
		}
	}
	if n != 5 {
		t.Fatalf("%d bind failure events, want 5 (the retry limit)", n)
	}
	if ssn.State() != client.SessionOpen || ssn.Counts().Pending != 1 {
		t.Fatalf("session after the retry limit: %v %+v", ssn.State(), ssn.Counts())
	}
	// No instance is left running for it, and closing cancels the task.
	if _, err := conn.CloseSession(ctx, ssn.ID()); err != nil {
		t.Fatal(err)
	}
}

func TestInstanceKilledMidTask(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	ssn := echoSession(t, conn)
	_, err := ssn.Invoke(ctx, []byte("crash"))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "about to crash on purpose") {
		t.Fatalf("crashing task: %v", err)
	}
	// A fresh instance takes the next task.
	if out, err := ssn.Invoke(ctx, []byte("again")); err != nil || string(out) != "again" {
		t.Fatalf("task after the crash: %q %v", out, err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	registerTestApp(t, conn, "echo", "echo")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo", ResReq: &client.ResourceRequirement{}})
			if err != nil {
				errs <- err
				return
			}
			in := fmt.Sprintf("session-%d", i)
			out, err := ssn.Invoke(ctx, []byte(in))
			if err == nil && string(out) != in {
				err = fmt.Errorf("session %d got %q", i, out)
			}
			if err == nil {
				err = ssn.Close(ctx)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStopKillsInstances(t *testing.T) {
	c, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	ssn := echoSession(t, conn)
	out, err := ssn.Invoke(ctx, []byte("whoami"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscanf(string(out), "%d/", &pid); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("instance %d still exists after Stop (kill 0: %v)", pid, err)
	}
}

// TestDefaultApplications runs tasks on flmping and flmexec as registered at
// start-up, served by the built-in services.
func TestDefaultApplications(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, conn := startCluster(t, local.Options{
		BuiltinCommand: []string{exe, "-test.run=^$"},
		Env:            append(os.Environ(), builtinEnv+"=1"),
	})
	ctx := t.Context()
	ping, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "flmping"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ping.Invoke(ctx, []byte(`{"duration": 1}`))
	if err != nil || !strings.HasPrefix(string(out), `{"message":"Completed on <`) {
		t.Fatalf("flmping = %s, %v", out, err)
	}
	sh, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "flmexec"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = sh.Invoke(ctx, []byte(`{"language": "shell", "code": "tr a-z A-Z", "input": [104, 105]}`))
	if err != nil || string(out) != `{"data":[72,73]}` {
		t.Fatalf("flmexec = %s, %v", out, err)
	}
	for _, s := range []*client.Session{ping, sh} {
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRemoteNode joins a second executor manager over the Backend gRPC
// service, as "flmctl cluster start --join" does, and runs a task on it: the
// embedded node has no capacity, so only the remote one can host it.
func TestRemoteNode(t *testing.T) {
	c, conn := startCluster(t, local.Options{Node: &flamev1.ResourceRequirement{}})
	ctx := t.Context()
	target := strings.TrimPrefix(c.Endpoints().Backend, "http://")
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	node, err := executor.New(executor.Options{
		Backend:         executor.NewGRPCBackend(flamev1.NewBackendClient(cc)),
		NodeName:        "remote-node",
		WorkDir:         t.TempDir(),
		ClusterEndpoint: c.Endpoints().Frontend,
		Resources:       &flamev1.ResourceRequirement{Cpu: 4, Memory: 8 << 30},
		StopGrace:       2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Stop)

	ssn := echoSession(t, conn)
	if out, err := ssn.Invoke(ctx, []byte("over the wire")); err != nil || string(out) != "over the wire" {
		t.Fatalf("invoke = %q, %v", out, err)
	}
	execs, err := conn.ListExecutors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(execs) != 1 || execs[0].Node != "remote-node" || execs[0].SessionID != ssn.ID() {
		t.Fatalf("executors: %+v", execs)
	}
	nodes, err := conn.ListNodes(ctx)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes: %d, %v", len(nodes), err)
	}
	for _, n := range nodes {
		// Set at registration, refreshed at every heartbeat.
		if age := time.Since(n.LastHeartbeat); age < 0 || age > time.Minute {
			t.Errorf("node %s: last heartbeat %v", n.Name, n.LastHeartbeat)
		}
	}
	if err := ssn.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestStopDuringInvokeNamesTheTask: an Invoke waiting in its CreateTask
// call when the cluster stops learns which task it created: the error names
// the task, so the caller can find it again after a restart.
func TestStopDuringInvokeNamesTheTask(t *testing.T) {
	c, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	ssn := echoSession(t, conn)
	errc := make(chan error, 1)
	go func() {
		_, err := ssn.Invoke(ctx, []byte("wait-for-cancel"))
		errc <- err
	}()
	waitFor(t, 30*time.Second, func() error {
		tk, err := ssn.GetTask(ctx, "1")
		if err != nil {
			return err
		}
		if tk.State != client.TaskRunning {
			return fmt.Errorf("task 1 is %v", tk.State)
		}
		return nil
	})
	c.Stop()
	err := <-errc
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("task 1 of session %q", ssn.ID())) {
		t.Fatalf("Invoke during Stop = %v, want an error naming task 1 of session %s", err, ssn.ID())
	}
}
