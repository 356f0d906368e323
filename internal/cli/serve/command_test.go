package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stderrLines is a shell loop writing line1..line30 to stderr.
const stderrLines = `i=1; while [ $i -le 30 ]; do echo line$i >&2; i=$((i+1)); done; `

func TestServeRun_ExecOutputIsStdout(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"cat"}})
	in.mustEnter(t, "s", nil)
	if got := in.mustInvoke(t, "1", []byte("hello\nworld\n")); got != "hello\nworld\n" {
		t.Fatalf("output %q, want the input unchanged", got)
	}
	res := in.invoke(t, "2", nil)
	if res.GetReturnCode() != 0 || res.Output != nil {
		t.Fatalf("no input: %d %q, want success with no output", res.GetReturnCode(), res.Output)
	}
}

func TestServeRun_ExecEnvironmentAndCommonData(t *testing.T) {
	script := `printf '%s|%s|' "$FLAME_SESSION_ID" "$FLAME_TASK_ID"; cat "$FLAME_COMMON_DATA_FILE"; printf '|%s' "$FLAME_COMMON_DATA_FILE"`
	in := startServe(t, &Options{Command: []string{"sh", "-c", script}})
	in.mustEnter(t, "ssn-1", []byte("shared data"))
	var file string
	for _, task := range []string{"1", "2"} {
		parts := strings.Split(in.mustInvoke(t, task, nil), "|")
		if len(parts) != 4 || parts[0] != "ssn-1" || parts[1] != task || parts[2] != "shared data" {
			t.Fatalf("task %s saw %q, want ssn-1|%s|shared data|FILE", task, parts, task)
		}
		file = parts[3]
	}
	if filepath.Dir(file) != in.dir {
		t.Fatalf("common data file %s is not in TempDir %s", file, in.dir)
	}
	if res := in.leave(t); res.GetReturnCode() != 0 {
		t.Fatalf("leave: %s", res.GetMessage())
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("common data file after leave: %v", err)
	}

	// A session without common data gets an empty file.
	in.mustEnter(t, "ssn-2", nil)
	if got := strings.Split(in.mustInvoke(t, "1", nil), "|"); got[0] != "ssn-2" || got[2] != "" {
		t.Fatalf("second session saw %q", got)
	}
	// Stopping without a leave removes the file too.
	if err := in.stop(t); err != nil {
		t.Fatal(err)
	}
	if files := in.commonFiles(t); len(files) != 0 {
		t.Fatalf("common data files left after stop: %v", files)
	}
}

func TestServeRun_ExecNonZeroExit(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"sh", "-c", stderrLines + "exit 3"}})
	in.mustEnter(t, "s", nil)
	msg := in.mustFail(t, "1", nil)
	if !strings.HasPrefix(msg, "sh exited with status 3; end of its stderr:\nline11\n") || !strings.HasSuffix(msg, "\nline30") {
		t.Fatalf("message %q, want the status and the last 20 lines of stderr", msg)
	}
	// The next task runs again: a failure is the task's, not the instance's.
	if msg := in.mustFail(t, "2", nil); !strings.Contains(msg, "status 3") {
		t.Fatalf("second task: %q", msg)
	}
	if err := in.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := in.errOut.String(); !strings.Contains(got, "\nline1\nline2\n") {
		t.Fatalf("stderr was not copied to serve's stderr: %q", got)
	}
}

func TestServeRun_ExecSignalAndNoStderr(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"sh", "-c", "kill -9 $$"}})
	in.mustEnter(t, "s", nil)
	if msg := in.mustFail(t, "1", nil); msg != "sh ended with signal: killed (no stderr)" {
		t.Fatalf("message %q", msg)
	}
}

func TestServeRun_ExecTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(shortTempDir(t), "pid")
	// A background child in the command's group, then a wait that only
	// the timeout ends.
	script := `echo started >&2; sleep 600 & echo $! > "$1"; wait`
	in := startServe(t, &Options{Command: []string{"sh", "-c", script, "sh", pidFile}, Timeout: 300 * time.Millisecond})
	in.mustEnter(t, "s", nil)
	t0 := time.Now()
	msg := in.mustFail(t, "1", nil)
	if elapsed := time.Since(t0); elapsed > 10*time.Second {
		t.Fatalf("timed-out task took %s", elapsed)
	}
	if want := "task timed out after 300ms; killed sh and its process group; end of its stderr:\nstarted"; msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitTimeout, func() error { return processGone(pid) })
}

func TestServeRun_CommandNotFoundFailsSessionEnter(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			in := startServe(t, &Options{Command: []string{"flmctl-no-such-command"}, Stream: stream})
			res := in.enter(t, "s", []byte("x"))
			if res.GetReturnCode() != -1 || !strings.HasPrefix(res.GetMessage(), "cannot run flmctl-no-such-command: ") ||
				!strings.Contains(res.GetMessage(), "not found") {
				t.Fatalf("enter: %d %q, want a failure naming the command", res.GetReturnCode(), res.GetMessage())
			}
			if files := in.commonFiles(t); len(files) != 0 {
				t.Fatalf("failed enter left %v", files)
			}
		})
	}
}

// TestServeRun_ExampleScore runs examples/shell-service/score.sh as its
// README registers it.
func TestServeRun_ExampleScore(t *testing.T) {
	script, err := filepath.Abs("../../../examples/shell-service/score.sh")
	if err != nil {
		t.Fatal(err)
	}
	in := startServe(t, &Options{Command: []string{script}})
	in.mustEnter(t, "s", []byte("flame"))
	if got := in.mustInvoke(t, "1", []byte("the flame burns, flame on")); got != "2\n" {
		t.Fatalf("score = %q, want 2", got)
	}
	if msg := in.mustFail(t, "2", nil); !strings.Contains(msg, "exited with status 1") || !strings.Contains(msg, "score.sh: empty input") {
		t.Fatalf("empty input: %q", msg)
	}
}
