package local_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

// clusterEnv makes this test binary run a durable cluster in the given data
// directory and print its endpoint, until it is killed.
const clusterEnv = "FLMCTL_LOCAL_TEST_CLUSTER"

func runClusterProcess(dir string) int {
	// Warnings and errors of the cluster show up in the test's output.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := local.Start(context.Background(), local.Options{DataDir: dir, Storage: local.StorageSQLite, BackendAddr: "off", Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	fmt.Printf("ENDPOINT %s\n", c.Endpoints().Frontend)
	select {} // until killed
}

// startClusterProcess runs a durable cluster in a child process and returns
// its endpoint and a function that kills it (-9). The test fails if the
// process ends any other way.
func startClusterProcess(t *testing.T, dir string) (kill func(), endpoint string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), clusterEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	exited := make(chan struct{})
	kill = func() {
		if killed.CompareAndSwap(false, true) {
			_ = cmd.Process.Kill()
		}
		<-exited
	}
	t.Cleanup(kill)
	br := bufio.NewReader(out)
	line, readErr := br.ReadString('\n')
	go func() {
		_, _ = io.Copy(io.Discard, br) // keep reading until the process ends
		err := cmd.Wait()
		if !killed.Load() {
			t.Errorf("the cluster process exited by itself: %v", err)
		}
		close(exited)
	}()
	if readErr != nil {
		t.Fatalf("cluster process printed no endpoint: %v", readErr)
	}
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "ENDPOINT ")
	if !ok {
		t.Fatalf("cluster process printed %q", line)
	}
	return kill, endpoint
}

// TestCrashSafety kills -9 a cluster with the durable store while 10,000
// tasks are being created and run, restarts it on the same data, and checks
// that no acknowledged session or task is missing and that every task
// reaches a terminal state.
func TestCrashSafety(t *testing.T) {
	const total = 10000
	dir := t.TempDir()
	ctx := t.Context()
	killCluster, endpoint := startClusterProcess(t, dir)
	conn, err := client.Connect(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	registerTestApp(t, conn, "echo", "echo")
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "echo", ID: "crash", ResReq: &client.ResourceRequirement{}})
	if err != nil {
		t.Fatal(err)
	}

	// Create tasks from many goroutines, recording every acknowledged id,
	// and kill the cluster once half of them are acknowledged.
	var (
		mu    sync.Mutex
		acked = map[string]string{} // task id → input
		next  = 0
		wg    sync.WaitGroup
		kill  sync.Once
	)
	for range 32 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= total {
					return
				}
				in := fmt.Sprintf("task-%d", i)
				task, err := ssn.CreateTask(ctx, []byte(in))
				if err != nil {
					return // the cluster is gone
				}
				mu.Lock()
				acked[task.ID] = in
				n := len(acked)
				mu.Unlock()
				if n == total/2 {
					kill.Do(killCluster)
				}
			}
		})
	}
	wg.Wait()
	kill.Do(killCluster)
	conn.Close()
	if len(acked) < total/2 {
		t.Fatalf("only %d tasks were acknowledged before the kill", len(acked))
	}

	// Restart on the same data; create the rest.
	_, endpoint = startClusterProcess(t, dir)
	conn, err = client.Connect(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ssn, err = conn.GetSession(ctx, "crash")
	if err != nil {
		t.Fatalf("the acknowledged session is missing after the restart: %v", err)
	}
	next = len(acked)
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= total {
					return
				}
				in := fmt.Sprintf("after-%d", i)
				task, err := ssn.CreateTask(ctx, []byte(in))
				if err != nil {
					errs <- fmt.Errorf("after the restart, task %d of %d: %w", i, total, err)
					return
				}
				mu.Lock()
				acked[task.ID] = in
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every acknowledged task is there and finishes with its own output.
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if err := ssn.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		c := ssn.Counts()
		if c.Pending+c.Running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks did not finish: %+v", c)
		}
		<-time.After(50 * time.Millisecond)
	}
	seen := 0
	for task, err := range ssn.ListTasks(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		want, ok := acked[task.ID]
		if !ok {
			continue // created but not acknowledged before the kill: allowed
		}
		seen++
		if task.State != client.TaskSucceed || string(task.Input) != want || string(task.Output) != want {
			t.Fatalf("task %s: state %v input %q output %q, want Succeed with %q", task.ID, task.State, task.Input, task.Output, want)
		}
	}
	if seen != len(acked) {
		t.Fatalf("%d of %d acknowledged tasks are present after the restart", seen, len(acked))
	}
	if _, err := conn.CloseSession(ctx, "crash"); err != nil {
		t.Fatal(err)
	}
}
