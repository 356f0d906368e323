package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"go.uber.org/goleak"
)

// crashChildEnv makes the test binary run crashChild instead of the tests.
const crashChildEnv = "FLMCTL_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	goleak.VerifyTestMain(m)
}

const crashWorkers = 32

func crashInput(w, i int) []byte  { return []byte(fmt.Sprintf("input %d/%d", w, i)) }
func crashOutput(w, i int) []byte { return []byte(fmt.Sprintf("output %d/%d", w, i)) }

// crashChild commits tasks from many goroutines until it is killed. Each
// goroutine creates task i of its own session, then completes it, and writes
// "c W I" or "u W I" to stdout as soon as the Commit returns: every line the
// parent reads is an acknowledged, hence durable, change.
func crashChild(path string) int {
	// Safety net if the parent vanishes without killing us (a write to
	// the closed pipe would also end the process).
	time.AfterFunc(2*time.Minute, func() { os.Exit(4) })
	s, err := OpenSQLite(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	var muts []Mutation
	for w := range crashWorkers {
		muts = append(muts, PutSession(session("w"+strconv.Itoa(w), "crash")))
	}
	if err := s.Commit(ctx, muts...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex // serialises writes to stdout
	ack := func(kind byte, w, i int) {
		line := fmt.Appendf(nil, "%c %d %d\n", kind, w, i)
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.Write(line); err != nil {
			os.Exit(5)
		}
	}
	for w := range crashWorkers {
		go func() {
			sid := "w" + strconv.Itoa(w)
			for i := 1; ; i++ {
				tk := task(sid, i, crashInput(w, i))
				if err := s.Commit(ctx, CreateTask(tk)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				ack('c', w, i)
				if err := s.Commit(ctx, UpdateTask(succeeded(tk, crashOutput(w, i)))); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				ack('u', w, i)
			}
		}()
	}
	select {}
}

func TestSQLite_CrashKeepsAcknowledgedCommits(t *testing.T) {
	const killAfter = 4000 // acknowledgements read before SIGKILL
	path := filepath.Join(t.TempDir(), "flame.db")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Deadline: kill the child whatever happens.
	deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()

	type key struct{ w, i int }
	created := make(map[key]bool)
	updated := make(map[key]bool)
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var kind byte
		var k key
		if _, err := fmt.Sscanf(sc.Text(), "%c %d %d", &kind, &k.w, &k.i); err != nil {
			t.Fatalf("child wrote %q: %v", sc.Text(), err)
		}
		switch kind {
		case 'c':
			created[k] = true
		case 'u':
			updated[k] = true
		}
		if !killed && len(created)+len(updated) >= killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
		// Keep reading after the kill: lines already in the pipe were
		// acknowledged before the child died.
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acknowledgements without being killed: %v\n%s", len(created)+len(updated), err, stderr.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Exited() {
		t.Fatalf("child was not killed by a signal: %v\n%s", err, stderr.String())
	}

	s := openTestSQLite(t, path)
	defer s.Close()
	var integrity string
	if err := s.db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	st := load(t, s)
	if len(st.Sessions) != crashWorkers {
		t.Errorf("%d sessions after the crash, want %d", len(st.Sessions), crashWorkers)
	}
	stored := make(map[key]*flamev1.Task)
	for _, tk := range st.Tasks {
		var k key
		if _, err := fmt.Sscanf(tk.GetSpec().GetSessionId(), "w%d", &k.w); err != nil {
			t.Fatalf("unexpected session %q", tk.GetSpec().GetSessionId())
		}
		k.i, _ = strconv.Atoi(tk.GetMetadata().GetId())
		stored[k] = tk
		// Whatever is stored, acknowledged or not, is intact.
		if string(tk.GetSpec().GetInput()) != string(crashInput(k.w, k.i)) {
			t.Errorf("task %v input = %q", k, tk.GetSpec().GetInput())
		}
		if tk.GetStatus().GetState() == flamev1.TaskState_Succeed && string(tk.GetSpec().GetOutput()) != string(crashOutput(k.w, k.i)) {
			t.Errorf("task %v output = %q", k, tk.GetSpec().GetOutput())
		}
	}
	for k := range created {
		if stored[k] == nil {
			t.Errorf("acknowledged CreateTask %v lost", k)
		}
	}
	for k := range updated {
		if tk := stored[k]; tk.GetStatus().GetState() != flamev1.TaskState_Succeed {
			t.Errorf("acknowledged UpdateTask %v lost: state %v", k, tk.GetStatus().GetState())
		}
	}
	t.Logf("%d creates and %d updates acknowledged before SIGKILL; %d tasks stored", len(created), len(updated), len(st.Tasks))
}
