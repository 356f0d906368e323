package local_test

import (
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

// An instance that gets SIGTERM in the middle of a task (an administrator,
// a node draining) finishes that task within its grace period, the result
// is recorded, and a fresh instance takes the next task.
func TestSIGTERMMidTaskFinishesTheTask(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	registerTestApp(t, conn, "echo", "echo")
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	task, err := ssn.CreateTask(ctx, []byte("hold:"+fifo))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	waitFor(t, 20*time.Second, func() error {
		b, err := os.ReadFile(fifo + ".pid")
		if err == nil {
			pid, err = strconv.Atoi(string(b))
		}
		return err
	})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The task is still in hand; let it finish now.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	done, err := mustWatch(t, ssn, task.ID).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if done.State != client.TaskSucceed || string(done.Output) != "released" {
		t.Fatalf("task after SIGTERM: %s %q, want Succeed \"released\"", done.State, done.Output)
	}
	// Tasks after it never fail: one that reaches the instance before it
	// acts on the signal runs there, later ones on a fresh instance, and one
	// that finds it gone is queued again.
	waitFor(t, 20*time.Second, func() error {
		out, err := ssn.Invoke(ctx, []byte("whoami"))
		if err != nil {
			t.Fatalf("task after the SIGTERM: %v", err)
		}
		if next, _, _ := strings.Cut(string(out), "/"); next == strconv.Itoa(pid) {
			return fmt.Errorf("still served by pid %d", pid)
		}
		return nil
	})
}

// A Go service with a task timeout, on the cluster: a handler that honours
// the cancellation fails its task and the instance serves on; one that
// ignores it fails its task too, and a fresh instance takes the next task.
func TestGoServiceTaskTimeout(t *testing.T) {
	_, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = conn.RegisterApplication(ctx, "timed", client.ApplicationAttributes{
		Command:      exe,
		Arguments:    []string{"-test.run=^$"},
		Environments: map[string]string{serviceEnv: "echo", taskTimeoutEnv: "200ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "timed"})
	if err != nil {
		t.Fatal(err)
	}
	whoami := func() string {
		out, err := ssn.Invoke(ctx, []byte("whoami"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _, _ := strings.Cut(string(out), "/")
		return pid
	}
	first := whoami()
	if _, err := ssn.Invoke(ctx, []byte("wait-for-cancel")); err == nil || !strings.Contains(err.Error(), "task timed out after 200ms") {
		t.Fatalf("task past its timeout: %v", err)
	}
	if again := whoami(); again != first {
		t.Fatalf("the instance changed (%s -> %s) after a task that stopped at its timeout", first, again)
	}
	if _, err := ssn.Invoke(ctx, []byte("ignore-cancel")); err == nil || !strings.Contains(err.Error(), "did not return") {
		t.Fatalf("stuck task: %v", err)
	}
	if next := whoami(); next == first {
		t.Fatalf("the next task ran on the instance with the stuck handler (pid %s)", first)
	}
}
