package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

// startCluster starts an embedded cluster and connects to it.
func startCluster(t testing.TB) *client.Connection {
	t.Helper()
	c, err := local.Start(t.Context(), local.Options{StopGrace: 2 * time.Second, BackendAddr: "off"})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	conn, err := client.Connect(t.Context(), c.Endpoints().Frontend, client.WithMaxWatchStreams(512))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// registerServe registers this test binary, acting as "flmctl serve
// ARGS...", as the application name.
func registerServe(t testing.TB, conn *client.Connection, name string, args ...string) {
	t.Helper()
	registerSelf(t, conn, name, map[string]string{serveArgsEnv: encodeArgs(args...)})
}

func registerSelf(t testing.TB, conn *client.Connection, name string, env map[string]string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A race-enabled binary otherwise sleeps a second before exiting.
	env["GORACE"] = strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	err = conn.RegisterApplication(t.Context(), name, client.ApplicationAttributes{
		Command:      exe,
		Arguments:    []string{"-test.run=^$"},
		Environments: env,
	})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
}

func openSession(t testing.TB, conn *client.Connection, app string, common []byte) *client.Session {
	t.Helper()
	ssn, err := conn.CreateSession(t.Context(), client.SessionAttributes{Application: app, CommonData: common, ResReq: &client.ResourceRequirement{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssn.Close(t.Context()) })
	return ssn
}

func closeSession(t testing.TB, ssn *client.Session) {
	t.Helper()
	if err := ssn.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestCluster_ServeCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and instance processes")
	}
	conn := startCluster(t)
	ctx := t.Context()
	registerServe(t, conn, "cat", "--", "cat")
	registerServe(t, conn, "stream-cat", "--stream", "--", "cat")
	registerServe(t, conn, "env", "--", "sh", "-c", `printf '%s/%s/' "$FLAME_SESSION_ID" "$FLAME_TASK_ID"; cat "$FLAME_COMMON_DATA_FILE"`)
	registerServe(t, conn, "fail", "--", "sh", "-c", `echo "bad input: $(cat)" >&2; exit 3`)
	registerServe(t, conn, "missing", "--", "flmctl-no-such-command")

	for _, app := range []string{"cat", "stream-cat"} {
		ssn := openSession(t, conn, app, nil)
		var futures []*client.Future
		for i := range 50 {
			futures = append(futures, ssn.Run(ctx, fmt.Appendf(nil, "%s task %d", app, i)))
		}
		for i, f := range futures {
			out, err := f.Wait(ctx)
			if want := fmt.Sprintf("%s task %d", app, i); err != nil || string(out) != want {
				t.Fatalf("%s: task %d = %q, %v; want %q", app, i, out, err, want)
			}
		}
		// Closing frees the instances for the next session at once.
		closeSession(t, ssn)
	}

	ssn := openSession(t, conn, "env", []byte("common"))
	out, err := ssn.Invoke(ctx, nil)
	if want := ssn.ID() + "/1/common"; err != nil || string(out) != want {
		t.Fatalf("env: %q, %v; want %q", out, err, want)
	}
	closeSession(t, ssn)

	ssn = openSession(t, conn, "fail", nil)
	_, err = ssn.Invoke(ctx, []byte("x"))
	var tf *client.TaskFailedError
	if !errors.As(err, &tf) || !strings.Contains(err.Error(), "sh exited with status 3") || !strings.Contains(err.Error(), "bad input: x") {
		t.Fatalf("failing command: %v", err)
	}
	closeSession(t, ssn)

	// A stream command that dies fails its task; the session goes on.
	registerServe(t, conn, "stream-die", "--stream", "--", "sh", "-c", lineWorker)
	ssn = openSession(t, conn, "stream-die", nil)
	out, err = ssn.Invoke(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	firstPID := strings.Fields(string(out))[0]
	if _, err := ssn.Invoke(ctx, []byte("die")); err == nil || !strings.Contains(err.Error(), "stream command sh exited with status 7") ||
		!strings.Contains(err.Error(), "dying on request") {
		t.Fatalf("die: %v", err)
	}
	// The next task starts the command again on the same instance.
	out, err = ssn.Invoke(ctx, []byte("b"))
	if f := strings.Fields(string(out)); err != nil || len(f) != 3 || f[0] == firstPID || f[2] != "b" {
		t.Fatalf("after the death: %q, %v; want a new process", out, err)
	}
	closeSession(t, ssn)

	// A command that cannot run fails the bind, with the reason as the event.
	ssn = openSession(t, conn, "missing", nil)
	if _, err := ssn.CreateTask(ctx, []byte("never runs")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitTimeout, func() error {
		if err := ssn.Refresh(ctx); err != nil {
			return err
		}
		for _, e := range ssn.Events() {
			if e.Code == 1001 && strings.Contains(e.Message, "cannot run flmctl-no-such-command") {
				return nil
			}
		}
		return fmt.Errorf("no bind failure event yet: %+v", ssn.Events())
	})
}

// TestCluster_ServeSIGTERMMidTask sends SIGTERM to a serve instance while
// its command runs a task, in both modes: the task finishes within the
// grace period and its result arrives.
func TestCluster_ServeSIGTERMMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and instance processes")
	}
	// Each command reports its parent (the serve process) and socket, then
	// blocks until the test writes to the FIFO.
	report := `printf '%s %s' "$PPID" "$FLAME_INSTANCE_ENDPOINT" > "$1.tmp" && mv "$1.tmp" "$1"; `
	for _, mode := range []struct {
		name  string
		flags []string
		cmd   string
	}{
		{"process per task", nil, report + `cat "$2"`},
		{"stream", []string{"--stream"}, `while IFS= read -r line; do ` + report + `cat "$2"; echo; done`},
	} {
		t.Run(mode.name, func(t *testing.T) { serveSIGTERMMidTask(t, mode.flags, mode.cmd) })
	}
}

func serveSIGTERMMidTask(t *testing.T, flags []string, script string) {
	dir := shortTempDir(t)
	info, fifo := filepath.Join(dir, "info"), filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	conn := startCluster(t)
	ctx := t.Context()
	registerServe(t, conn, "slow", append(flags, "--", "sh", "-c", script, "sh", info, fifo)...)
	ssn := openSession(t, conn, "slow", nil)
	future := ssn.Run(ctx, nil)

	var pid int
	var sock string
	waitFor(t, waitTimeout, func() error {
		b, err := os.ReadFile(info)
		if err != nil {
			return err
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			return fmt.Errorf("info file %q", b)
		}
		pid, err = strconv.Atoi(f[0])
		sock = f[1]
		return err
	})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once the socket is gone; the task is still running.
	waitFor(t, waitTimeout, func() error {
		if _, err := os.Stat(sock); err == nil {
			return fmt.Errorf("socket %s still there", sock)
		}
		return nil
	})
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.WriteString("finished after SIGTERM")
	if err := errors.Join(werr, w.Close()); err != nil {
		t.Fatal(err)
	}
	out, err := future.Wait(ctx)
	if err != nil || string(out) != "finished after SIGTERM" {
		t.Fatalf("task = %q, %v; want it to finish within the grace period", out, err)
	}
	waitFor(t, waitTimeout, func() error { return processGone(pid) })
}
