package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flmctl/flmctl/pkg/service"
)

// Exec is the flmexec service: each task runs one script and returns what
// it wrote to standard output. The zero value is ready to use.
//
// Task input (JSON, upstream's format):
//
//	{"language": "shell"|"python", "code": "<source>",
//	 "input": [<byte values>]|null, "runtime": "<optional>"}
//
// Task output: {"data": [<stdout byte values>]}.
//
// The script is written to main.sh or main.py in a fresh directory under
// ScriptDir (removed afterwards) and run there, with "input" on its standard
// input. Its exit status is ignored, as upstream ignores it: a script reports
// failure through what it prints. The language is matched ignoring case; any
// other language fails the task with "Unsupported language: <x>".
//
// Shell scripts run with bash, or with the shell named by "runtime": sh, bash,
// zsh, csh, tcsh, ksh or fish, optionally as /bin/NAME or /usr/bin/NAME. They
// inherit the service's environment.
//
// Python scripts run as `uv run --python <version> main.py` when uv is found
// ($FLAME_HOME/bin/uv, else uv on PATH), as upstream does. Without uv they run
// with python<version> if the version was asked for in "runtime" (an error if
// it is not on PATH), else with python<version> or python3, whichever is on
// PATH first; upstream has no such fallback and always needs uv. The version
// is "runtime" (a leading "python" stripped), else $FLAME_PYTHON_VERSION,
// else the newest $FLAME_HOME/lib/python<X.Y>/site-packages, else 3.12, with
// FLAME_HOME defaulting to /usr/local/flame. Python scripts see only these
// variables of the environment: PYTHONPATH, FLAME_HOME, FLAME_PYTHON_VERSION,
// FLAME_ENDPOINT, FLAME_CACHE_ENDPOINT, FLAME_CA_FILE, FLAME_CERT_FILE,
// FLAME_KEY_FILE, XDG_CACHE_HOME, PATH, HOME, USER, TMPDIR, TMP, TEMP and
// every UV_* variable; FLAME_HOME and FLAME_PYTHON_VERSION are set to the
// values used, and the Flame site-packages directory
// ($FLAME_HOME/lib/python<version>/site-packages), when it exists, is put
// first on PYTHONPATH.
type Exec struct {
	// Environ returns the environment Python scripts choose their variables
	// from (and uv and FLAME_HOME are looked up in); nil means os.Environ.
	Environ func() []string
	// ScriptDir is where per-task script directories are made; "" means
	// os.TempDir() (under the executor manager: the binding's own tmp dir).
	ScriptDir string
	// Stderr receives the scripts' standard error; nil means os.Stderr,
	// which the executor manager writes to the instance's .err file.
	Stderr io.Writer
	// Logger receives a line per script that exits unsuccessfully; nil
	// means slog.Default().
	Logger *slog.Logger
}

// OnSessionEnter does nothing: flmexec keeps no session state (flamepy's
// Sandbox puts its settings in the common data, but repeats the runtime in
// every task).
func (e *Exec) OnSessionEnter(context.Context, *service.SessionContext) error { return nil }

// OnSessionLeave does nothing.
func (e *Exec) OnSessionLeave(context.Context) error { return nil }

// OnTaskInvoke runs the task's script and returns its output.
func (e *Exec) OnTaskInvoke(ctx context.Context, tc *service.TaskContext) ([]byte, error) {
	if tc.Input == nil {
		return nil, errors.New(`flmexec task has no input: send a script as {"language": "shell", "code": "..."}`)
	}
	s, err := parseScript(tc.Input)
	if err != nil {
		return nil, err
	}
	var stdout []byte
	switch strings.ToLower(s.Language) {
	case "shell":
		stdout, err = e.runShell(ctx, s)
	case "python":
		stdout, err = e.runPython(ctx, s)
	default:
		return nil, &unsupportedLanguageError{language: s.Language}
	}
	if err != nil {
		return nil, err
	}
	return encodeOutput(stdout), nil
}

// unsupportedLanguageError carries upstream's exact message, which clients
// may match; hence the capital letter our own errors do not have.
type unsupportedLanguageError struct{ language string }

func (e *unsupportedLanguageError) Error() string { return "Unsupported language: " + e.language }

// script is flmexec's task input.
type script struct {
	Language string
	Code     string
	Input    []byte // nil for null or absent
	Runtime  string
}

func parseScript(data []byte) (*script, error) {
	var raw struct {
		Language *string `json:"language"`
		Code     *string `json:"code"`
		Input    []byte  `json:"input"` // a JSON array of numbers 0..255
		Runtime  *string `json:"runtime"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse flmexec script: %w", err)
	}
	// Upstream requires both; a missing one is a client bug worth naming.
	if raw.Language == nil {
		return nil, errors.New(`parse flmexec script: missing field "language"`)
	}
	if raw.Code == nil {
		return nil, errors.New(`parse flmexec script: missing field "code"`)
	}
	s := &script{Language: *raw.Language, Code: *raw.Code, Input: raw.Input}
	if raw.Runtime != nil {
		s.Runtime = *raw.Runtime
	}
	return s, nil
}

// encodeOutput writes {"data":[...]} with the bytes as numbers, the form
// upstream's serde produces (encoding/json would write base64).
func encodeOutput(data []byte) []byte {
	out := make([]byte, 0, len(`{"data":[]}`)+4*len(data))
	out = append(out, `{"data":[`...)
	for i, b := range data {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(b), 10)
	}
	return append(out, "]}"...)
}

// shells are the interpreters a shell script may ask for in "runtime".
var shells = []string{"sh", "bash", "zsh", "csh", "tcsh", "ksh", "fish"}

// shellCommand resolves "runtime" for a shell script: empty means bash,
// a bare name is looked up on PATH, /bin/NAME and /usr/bin/NAME are used as
// given.
func shellCommand(runtime string) (string, error) {
	r := strings.TrimSpace(runtime)
	if r == "" {
		return "bash", nil
	}
	name := r
	for _, prefix := range []string{"/bin/", "/usr/bin/"} {
		if rest, ok := strings.CutPrefix(r, prefix); ok {
			name = rest
			break
		}
	}
	if !slices.Contains(shells, name) {
		return "", fmt.Errorf("unsupported shell runtime %q: use one of %s, optionally as /bin/NAME or /usr/bin/NAME",
			runtime, strings.Join(shells, ", "))
	}
	return r, nil
}

func (e *Exec) runShell(ctx context.Context, s *script) ([]byte, error) {
	shell, err := shellCommand(s.Runtime)
	if err != nil {
		return nil, err
	}
	dir, entry, err := e.writeScript("shell-", "main.sh", s.Code)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// nil env: the script inherits ours, as upstream's does.
	return e.run(ctx, dir, nil, s.Input, shell, entry)
}

func (e *Exec) writeScript(prefix, name, code string) (dir, path string, err error) {
	base := e.ScriptDir
	if base == "" {
		base = os.TempDir()
	}
	dir, err = os.MkdirTemp(base, prefix)
	if err != nil {
		return "", "", fmt.Errorf("create a script directory: %w", err)
	}
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(code), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("write %s: %w", name, err)
	}
	return dir, path, nil
}

// waitDelay bounds how long a finished script's output pipe may stay open
// (a background process holding stdout), and how long a cancelled script
// may take to die, before the task stops waiting for it.
const waitDelay = 5 * time.Second

// run runs argv in dir with input on stdin and returns its stdout. Only a
// failure to start, an I/O failure or ctx ending is an error; the exit
// status is logged and otherwise ignored.
func (e *Exec) run(ctx context.Context, dir string, env []string, input []byte, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	if input != nil {
		cmd.Stdin = bytes.NewReader(input)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = e.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.WaitDelay = waitDelay
	killProcessGroupOnCancel(cmd)

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the script with %s: %w", argv[0], err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("script cancelled: %w", context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		e.logger().Info("script exited unsuccessfully; its output is returned all the same",
			"command", argv[0], "status", exitErr.ProcessState.String())
	case errors.Is(err, exec.ErrWaitDelay):
		e.logger().Warn("script left its output open after exiting; returning what it wrote so far",
			"command", argv[0], "wait", waitDelay.String())
	default:
		return nil, fmt.Errorf("run the script with %s: %w", argv[0], err)
	}
	return stdout.Bytes(), nil
}

func (e *Exec) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

func (e *Exec) environ() []string {
	if e.Environ != nil {
		return e.Environ()
	}
	return os.Environ()
}
