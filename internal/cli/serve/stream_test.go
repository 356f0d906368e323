package serve

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lineWorker answers each line with its pid, the session and the line; the
// line "die" makes it exit with status 7 and "hang" makes it stop
// answering.
const lineWorker = `while IFS= read -r line; do
	case "$line" in
	die) echo "dying on request" >&2; exit 7 ;;
	hang) exec sleep 600 ;;
	esac
	printf '%s %s %s\n' "$$" "$FLAME_SESSION_ID" "$line"
done`

func TestServeRun_StreamManyTasksOneProcess(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"sh", "-c", lineWorker}, Stream: true})
	in.mustEnter(t, "ssn", nil)
	pids := map[string]bool{}
	const n = 500
	for i := range n {
		out := in.mustInvoke(t, strconv.Itoa(i), fmt.Appendf(nil, "task %d", i))
		pid, rest, _ := strings.Cut(out, " ")
		if want := fmt.Sprintf("ssn task %d", i); rest != want {
			t.Fatalf("task %d: output %q, want PID %s", i, out, want)
		}
		pids[pid] = true
	}
	if len(pids) != 1 {
		t.Fatalf("%d tasks ran in %d processes, want 1", n, len(pids))
	}
	// An empty reply line is an empty output; no input is an empty line.
	if out := in.mustInvoke(t, "e", nil); !strings.HasSuffix(out, " ssn ") {
		t.Fatalf("no input: %q", out)
	}
	// A newline in the input fails that task only.
	if msg := in.mustFail(t, "nl", []byte("a\nb")); !strings.Contains(msg, "contains a newline") || !strings.Contains(msg, "--framing length") {
		t.Fatalf("newline: %q", msg)
	}
	if out := in.mustInvoke(t, "after", []byte("x")); !strings.HasSuffix(out, " ssn x") {
		t.Fatalf("after the newline error: %q", out)
	}

	// Leave closes stdin: the worker exits, the common data file goes.
	var pid int
	for p := range pids {
		pid, _ = strconv.Atoi(p)
	}
	if res := in.leave(t); res.GetReturnCode() != 0 {
		t.Fatalf("leave: %s", res.GetMessage())
	}
	waitFor(t, waitTimeout, func() error { return processGone(pid) })
	if files := in.commonFiles(t); len(files) != 0 {
		t.Fatalf("common data files after leave: %v", files)
	}

	// The next session gets a new process.
	in.mustEnter(t, "ssn2", nil)
	if out := in.mustInvoke(t, "1", []byte("y")); strings.HasPrefix(out, strconv.Itoa(pid)+" ") || !strings.HasSuffix(out, " ssn2 y") {
		t.Fatalf("second session: %q", out)
	}
}

func TestServeRun_StreamCommonDataFile(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"sh", "-c", `while read -r l; do cat "$FLAME_COMMON_DATA_FILE"; echo " $l"; done`}, Stream: true})
	in.mustEnter(t, "s", []byte("common"))
	if got := in.mustInvoke(t, "1", []byte("a")); got != "common a" {
		t.Fatalf("output %q", got)
	}
	// Stopping without a leave kills the worker and removes the file.
	if err := in.stop(t); err != nil {
		t.Fatal(err)
	}
	if files := in.commonFiles(t); len(files) != 0 {
		t.Fatalf("common data files after stop: %v", files)
	}
}

func TestServeRun_StreamProcessDeath(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"sh", "-c", lineWorker}, Stream: true})
	in.mustEnter(t, "s", nil)
	firstPID := strings.Fields(in.mustInvoke(t, "1", []byte("a")))[0]
	msg := in.mustFail(t, "2", []byte("die"))
	if want := "task 2: stream command sh exited with status 7; end of its stderr:\ndying on request"; msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	// The next task starts the command again, in the same session.
	out := in.mustInvoke(t, "3", []byte("b"))
	if f := strings.Fields(out); len(f) != 3 || f[0] == firstPID || f[1] != "s" || f[2] != "b" {
		t.Fatalf("task after the death: %q, want a new process (not %s) serving session s", out, firstPID)
	}
	if res := in.leave(t); res.GetReturnCode() != 0 {
		t.Fatalf("leave: %s", res.GetMessage())
	}
	if files := in.commonFiles(t); len(files) != 0 {
		t.Fatalf("common data files after leave: %v", files)
	}
}

func TestServeRun_StreamTimeout(t *testing.T) {
	in := startServe(t, &Options{Command: []string{"sh", "-c", lineWorker}, Stream: true, Timeout: 300 * time.Millisecond})
	in.mustEnter(t, "s", nil)
	out := in.mustInvoke(t, "1", []byte("a"))
	pid, _ := strconv.Atoi(strings.Fields(out)[0])
	t0 := time.Now()
	msg := in.mustFail(t, "2", []byte("hang"))
	if elapsed := time.Since(t0); elapsed > 10*time.Second {
		t.Fatalf("timed-out task took %s", elapsed)
	}
	if want := "task 2 timed out after 300ms; killed the stream command sh and its process group (no stderr)"; msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	waitFor(t, waitTimeout, func() error { return processGone(pid) })
	if out := in.mustInvoke(t, "3", []byte("b")); strings.HasPrefix(out, strconv.Itoa(pid)+" ") || !strings.HasSuffix(out, " s b") {
		t.Fatalf("after the timeout: %q, want a new process", out)
	}
}

func TestServeRun_StreamLengthFraming(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	environ := func() []string { return append(os.Environ(), lengthEchoEnv+"=1") }
	in := startServe(t, &Options{Command: []string{exe}, Stream: true, Framing: FramingLength, Environ: environ})
	in.mustEnter(t, "s", nil)
	for i, input := range []string{"one", "two\nlines", "", strings.Repeat("x", 200<<10)} {
		if got := in.mustInvoke(t, strconv.Itoa(i), []byte(input)); got != "echo:"+input {
			t.Fatalf("task %d: %d bytes back, want %d", i, len(got), len("echo:"+input))
		}
	}
	msg := in.mustFail(t, "die", []byte("die"))
	if !strings.Contains(msg, "exited with status 5") || !strings.HasSuffix(msg, "dying on request") {
		t.Fatalf("death: %q", msg)
	}
	if got := in.mustInvoke(t, "again", []byte("x")); got != "echo:x" {
		t.Fatalf("after the death: %q", got)
	}

	in = startServe(t, &Options{Command: []string{exe}, Stream: true, Framing: FramingLength, Environ: environ})
	in.mustEnter(t, "s", nil)
	if msg := in.mustFail(t, "g", []byte("garbage")); !strings.Contains(msg, "framing error: reply length 4294967295 exceeds") {
		t.Fatalf("garbage: %q", msg)
	}
}
