package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flmctl/flmctl/pkg/service"
)

// scriptInput builds flmexec's input JSON the way flamepy's Sandbox does.
func scriptInput(t *testing.T, language, code string, input []byte, runtime string) []byte {
	t.Helper()
	payload := map[string]any{"language": language, "code": code, "input": nil}
	if input != nil {
		nums := make([]int, len(input))
		for i, b := range input {
			nums[i] = int(b)
		}
		payload["input"] = nums
	}
	if runtime != "" {
		payload["runtime"] = runtime
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeData reads flmexec's output the way flamepy's Sandbox does.
func decodeData(t *testing.T, out []byte) []byte {
	t.Helper()
	var payload struct {
		Data []int `json:"data"`
	}
	if err := json.Unmarshal(out, &payload); err != nil {
		t.Fatalf("output %s is not flmexec JSON: %v", out, err)
	}
	data := make([]byte, len(payload.Data))
	for i, n := range payload.Data {
		data[i] = byte(n)
	}
	return data
}

// newExec returns an Exec whose script directories go to a fresh directory
// (returned, to check that they are removed) and whose stderr is captured.
func newExec(t *testing.T) (*Exec, string, *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	stderr := &lockedBuffer{}
	// Log lines share the buffer, after the scripts' own output.
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	return &Exec{ScriptDir: dir, Stderr: stderr, Logger: logger}, dir, stderr
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("script directory not cleaned up: %v left in %s", entries, dir)
	}
}

func TestExec_ShellStdinToStdout(t *testing.T) {
	e, dir, _ := newExec(t)
	out, err := invoke(t, e, scriptInput(t, "shell", `tr a-z A-Z; printf ' from %s' "$(basename "$PWD" | cut -c1-6)"`, []byte("hello"), ""))
	if err != nil {
		t.Fatal(err)
	}
	// Exactly upstream's byte form: numbers, no spaces.
	want := `{"data":[72,69,76,76,79,32,102,114,111,109,32,115,104,101,108,108,45]}`
	if string(out) != want {
		t.Errorf("output = %s (%q)\nwant     %s", out, decodeData(t, out), want)
	}
	assertEmptyDir(t, dir)
}

func TestExec_ShellNoInputAndEmptyOutput(t *testing.T) {
	e, _, _ := newExec(t)
	out, err := invoke(t, e, scriptInput(t, "Shell", `cat`, nil, ""))
	if err != nil || string(out) != `{"data":[]}` {
		t.Errorf("output = %s, %v; want {\"data\":[]}", out, err)
	}
}

func TestExec_ShellExitStatusIgnored(t *testing.T) {
	e, dir, stderr := newExec(t)
	out, err := invoke(t, e, scriptInput(t, "shell", "echo partial; echo oops >&2; exit 3", nil, ""))
	if err != nil {
		t.Fatalf("a failing script failed the task: %v", err)
	}
	if got := string(decodeData(t, out)); got != "partial\n" {
		t.Errorf("stdout = %q, want %q", got, "partial\n")
	}
	for _, want := range []string{"oops", "script exited unsuccessfully", `status="exit status 3"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr and log %q lack %q", stderr.String(), want)
		}
	}
	assertEmptyDir(t, dir)
}

func TestExec_ShellRuntimes(t *testing.T) {
	e, _, _ := newExec(t)
	for _, runtime := range []string{"sh", "bash", "/bin/sh", "/usr/bin/bash"} {
		if _, err := exec.LookPath(runtime); err != nil {
			t.Logf("skipping runtime %s: not installed", runtime)
			continue
		}
		t.Run(strings.ReplaceAll(runtime, "/", "_"), func(t *testing.T) {
			out, err := invoke(t, e, scriptInput(t, "shell", "echo ran", nil, runtime))
			if err != nil || string(decodeData(t, out)) != "ran\n" {
				t.Errorf("runtime %s: %s, %v", runtime, out, err)
			}
		})
	}
	for _, runtime := range []string{"python", "/usr/local/bin/bash", "bash -x", "../sh"} {
		_, err := invoke(t, e, scriptInput(t, "shell", "echo ran", nil, runtime))
		if err == nil || !strings.Contains(err.Error(), "unsupported shell runtime") {
			t.Errorf("runtime %q: %v, want an unsupported-runtime error", runtime, err)
		}
	}
}

func TestExec_UnsupportedLanguage(t *testing.T) {
	e, _, _ := newExec(t)
	_, err := invoke(t, e, scriptInput(t, "ruby", "puts 1", nil, ""))
	if err == nil || err.Error() != "Unsupported language: ruby" {
		t.Errorf("error = %v, want exactly %q", err, "Unsupported language: ruby")
	}
}

func TestExec_BadInput(t *testing.T) {
	e, _, _ := newExec(t)
	for _, tc := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"no input", nil, "has no input"},
		{"not JSON", []byte("echo hi"), "parse flmexec script"},
		{"no language", []byte(`{"code":"echo"}`), `missing field "language"`},
		{"no code", []byte(`{"language":"shell"}`), `missing field "code"`},
		{"input out of range", []byte(`{"language":"shell","code":"cat","input":[1,256]}`), "parse flmexec script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := invoke(t, e, tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestExec_CancelKillsScript(t *testing.T) {
	e, dir, _ := newExec(t)
	started := make(chan struct{})
	e.Stderr = writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("started")) {
			close(started)
		}
		return len(p), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// The background sleep shares stdout: killing only the shell would
		// leave the pipe open until waitDelay.
		_, err := e.OnTaskInvoke(ctx, &service.TaskContext{Input: scriptInput(t, "shell", "sleep 60 & echo started >&2; wait", nil, "")})
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("script did not start")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled script = %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(waitDelay - time.Second):
		t.Fatal("cancelled script was not killed promptly")
	}
	assertEmptyDir(t, dir)
}

// fakeFlameHome makes a FLAME_HOME with bundled site-packages for the given
// Python versions.
func fakeFlameHome(t *testing.T, versions ...string) string {
	t.Helper()
	home := t.TempDir()
	for _, v := range versions {
		if err := os.MkdirAll(filepath.Join(home, "lib", "python"+v, "site-packages"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestExec_PythonPrefersUV(t *testing.T) {
	home := fakeFlameHome(t, "3.9", "3.11", "3.10")
	// A stand-in uv that reports how it was called and what it was given.
	writeExecutable(t, filepath.Join(home, "bin", "uv"), "#!/bin/sh\n"+
		`printf 'args=%s\n' "$*"; printf 'version=%s\n' "$FLAME_PYTHON_VERSION"; `+
		`printf 'pythonpath=%s\n' "$PYTHONPATH"; printf 'secret=%s\n' "${SECRET:-unset}"; `+
		`printf 'uvcache=%s\n' "$UV_CACHE_DIR"; printf 'stdin=%s\n' "$(cat)"`+"\n")
	e, dir, _ := newExec(t)
	e.Environ = func() []string {
		return []string{"FLAME_HOME=" + home, "PATH=/usr/bin:/bin", "SECRET=hunter2", "UV_CACHE_DIR=/c", "PYTHONPATH=/mine"}
	}
	out, err := invoke(t, e, scriptInput(t, "python", "print('hi')", []byte("in"), ""))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(decodeData(t, out))), "\n")
	sitePackages := filepath.Join(home, "lib", "python3.11", "site-packages")
	want := []string{
		"args=run --python 3.11 " + dir + "/python-*/main.py",
		"version=3.11",
		"pythonpath=" + sitePackages + ":/mine",
		"secret=unset",
		"uvcache=/c",
		"stdin=in",
	}
	if len(lines) != len(want) {
		t.Fatalf("uv saw:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if ok, _ := filepath.Match(want[i], lines[i]); !ok {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	assertEmptyDir(t, dir)
}

// realPython returns the path of a python3 executable on PATH that is a
// real binary, not a launcher script such as a pyenv shim (which needs its
// own environment, and is slow), or skips the test.
func realPython(t *testing.T) string {
	t.Helper()
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		path := filepath.Join(dir, "python3")
		if !isExecutable(path) {
			continue
		}
		head := make([]byte, 2)
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		_, err = io.ReadFull(f, head)
		_ = f.Close()
		if err == nil && string(head) != "#!" {
			return path
		}
	}
	t.Skip("no python3 binary on PATH (only launcher scripts, or none): the Python fallback cannot be tested here")
	return ""
}

func TestExec_PythonFallsBackToPython3(t *testing.T) {
	python := realPython(t)
	bin := t.TempDir()
	if err := os.Symlink(python, filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	home := fakeFlameHome(t, "3.99")
	e, dir, stderr := newExec(t)
	e.Environ = func() []string {
		return []string{"PATH=" + bin, "FLAME_HOME=" + home, "SECRET=hunter2", "FLAME_ENDPOINT=http://fe:8080"}
	}
	code := `import os, sys
data = sys.stdin.buffer.read()
sys.stdout.write(data.decode().upper() + "|")
sys.stdout.write(os.environ["FLAME_PYTHON_VERSION"] + "|" + os.environ["FLAME_ENDPOINT"] + "|")
sys.stdout.write(str("SECRET" in os.environ) + "|" + str(sys.path[1] == os.environ["PYTHONPATH"]))
`
	out, err := invoke(t, e, scriptInput(t, "python", code, []byte("abc"), ""))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(decodeData(t, out)), "ABC|3.99|http://fe:8080|False|True"; got != want {
		t.Errorf("python3 script printed %q, want %q (stderr: %s)", got, want, stderr.String())
	}
	assertEmptyDir(t, dir)

	// A version asked for explicitly must exist.
	_, err = invoke(t, e, scriptInput(t, "python", "print(1)", nil, "python3.98"))
	if err == nil || !strings.Contains(err.Error(), "python3.98 is not on PATH and uv was not found") {
		t.Errorf("missing requested version: %v", err)
	}
}

func TestExec_NoPython(t *testing.T) {
	e, _, _ := newExec(t)
	e.Environ = func() []string { return []string{"PATH=" + t.TempDir(), "FLAME_HOME=" + t.TempDir()} }
	_, err := invoke(t, e, scriptInput(t, "python", "print(1)", nil, ""))
	if err == nil || !strings.Contains(err.Error(), "no Python to run the script") {
		t.Errorf("error = %v, want a no-Python error", err)
	}
}

func TestPythonVersion(t *testing.T) {
	home := fakeFlameHome(t, "3.9", "3.10", "3.8")
	if err := os.MkdirAll(filepath.Join(home, "lib", "python3.12"), 0o755); err != nil { // no site-packages
		t.Fatal(err)
	}
	for _, tc := range []struct{ runtime, env, home, want string }{
		{"3.11", "3.9", home, "3.11"},
		{"python3.11", "", home, "3.11"},
		{" ", "python3.7", home, "3.7"},
		{"", "", home, "3.10"},
		{"", "", t.TempDir(), defaultPythonVersion},
	} {
		if got := pythonVersion(tc.runtime, tc.env, tc.home); got != tc.want {
			t.Errorf("pythonVersion(%q, %q) = %q, want %q", tc.runtime, tc.env, got, tc.want)
		}
	}
}

func TestPythonEnv(t *testing.T) {
	env := pythonEnv([]string{"PATH=/bin", "HOME=/h", "UV_INDEX_URL=x", "AWS_SECRET=s", "LD_PRELOAD=evil", "FLAME_CA_FILE=/ca", "broken"})
	var got []string
	for k := range env {
		got = append(got, k)
	}
	slices.Sort(got)
	if want := []string{"FLAME_CA_FILE", "HOME", "PATH", "UV_INDEX_URL"}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

func TestPrependPath(t *testing.T) {
	for _, tc := range []struct{ dir, list, want string }{
		{"/sp", "", "/sp"},
		{"/sp", "/a::/b", "/sp:/a:/b"},
		{"/sp", "/a:/sp", "/sp:/a"},
	} {
		if got := prependPath(tc.dir, tc.list); got != tc.want {
			t.Errorf("prependPath(%q, %q) = %q, want %q", tc.dir, tc.list, got, tc.want)
		}
	}
}

func TestEncodeOutput(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, `{"data":[]}`},
		{[]byte{0}, `{"data":[0]}`},
		{[]byte{104, 105, 255}, `{"data":[104,105,255]}`},
	} {
		if got := string(encodeOutput(tc.in)); got != tc.want {
			t.Errorf("encodeOutput(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// lockedBuffer is a bytes.Buffer safe to read while os/exec writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
