package flmctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

var update = flag.Bool("update", false, "rewrite the golden sections of testdata/script/*.txtar")

// leakCheck runs the tests, then fails the binary if goroutines are left.
type leakCheck struct{ m *testing.M }

func (l leakCheck) Run() int {
	code := l.m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(leakCheck{m}, map[string]func(){
		"flmctl": func() { os.Exit(Main()) },
	})
}

// TestScript runs testdata/script/*.txtar against the real program. Each
// script's HOME is its $WORK directory, so ~/.flame/flame.yaml is a file of
// the script. Rewrite goldens with: go test ./internal/cli/flmctl -run TestScript -update
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			// A -race binary sleeps 1 s at exit by default, waiting for late
			// reports; with dozens of execs that is most of the test time.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":     cmdExitcode,
			"flame-server": cmdFlameServer,
		},
	})
}

// cmdExitcode runs "exitcode N program args..." and fails unless the program
// exits with code N. stdout and stderr can be checked afterwards as with exec.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode code program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdFlameServer runs "flame-server": it starts an embedded Flame cluster in
// this process (free ports, in memory), writes $WORK/.flame/flame.yaml with a
// current context "local" pointing at it, and stops the cluster when the
// script ends. The built-in applications are served by the flmctl program
// that testscript installs, and $FLMCTL holds its absolute path, for
// applications registered by the script.
func cmdFlameServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: flame-server")
	}
	flmctlPath, err := exec.LookPath("flmctl")
	if err != nil {
		ts.Fatalf("flame-server: find the flmctl program: %v", err)
	}
	c, err := local.Start(context.Background(), local.Options{
		BuiltinCommand: []string{flmctlPath, "serve", "--builtin"},
		Env:            append(os.Environ(), "GORACE="+ts.Getenv("GORACE")),
	})
	if err != nil {
		ts.Fatalf("flame-server: %v", err)
	}
	ts.Defer(c.Stop)
	config := fmt.Sprintf("current-context: local\ncontexts:\n  - name: local\n    cluster:\n      endpoint: %s\n    cache:\n      endpoint: %s\n",
		c.Endpoints().Frontend, c.Endpoints().Cache)
	dir := ts.MkAbs(".flame")
	ts.Check(os.MkdirAll(dir, 0o700))
	ts.Check(os.WriteFile(filepath.Join(dir, "flame.yaml"), []byte(config), 0o600))
	ts.Setenv("FLMCTL", flmctlPath)
}

func TestExitCode(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	notFound := &client.FlameError{Code: client.CodeNotFound, Message: `session "x" not found`}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"ok", live, nil, ExitOK},
		{"no results", live, cmdutil.NewNoResultsError("no sessions"), ExitOK},
		{"error", live, errors.New("boom"), ExitError},
		{"flag error", live, fmt.Errorf("wrapped: %w", cmdutil.FlagErrorf("bad")), ExitUsage},
		{"cobra required flag", live, errors.New(`required flag(s) "file" not set`), ExitUsage},
		{"cobra args", live, errors.New("accepts 1 arg(s), received 2"), ExitUsage},
		{"cobra valid args", live, errors.New(`invalid argument "x" for "flmctl completion"`), ExitUsage},
		{"server invalid argument", live, &client.FlameError{Code: client.CodeInvalidArgument, Message: "invalid argument \"x\" for \"y\""}, ExitError},
		{"unavailable", live, fmt.Errorf("list sessions: %w", client.ErrUnavailable), ExitUnavailable},
		{"not found", live, fmt.Errorf("close session: %w", notFound), ExitNotFound},
		{"declined", live, cmdutil.ErrCancel, ExitInterrupted},
		{"ctrl-c", cancelled, fmt.Errorf("watch: %w", context.Canceled), ExitInterrupted},
		{"ctrl-c beats unavailable", cancelled, client.ErrUnavailable, ExitInterrupted},
		{"ctrl-c after success", cancelled, nil, ExitOK},
		{"silent", live, cmdutil.ErrSilent, ExitError},
	}
	for _, tt := range tests {
		if got := exitCode(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       string
		stdoutTTY  bool
		want       int
		wantOut    string
		wantErrOut string
	}{
		{"usage error", "context lst", false, ExitUsage, "",
			"unknown command \"lst\" for \"flmctl context\" (did you mean \"list\"?)\nRun \"flmctl context --help\" for usage.\n"},
		{"error", "context use nope", false, ExitError, "",
			"config file %s does not exist; create a context with \"flmctl context set NAME --endpoint URL\"\n"},
		{"no results, pipe", "context list", false, ExitOK, "", ""},
		{"no results, terminal", "context list", true, ExitOK, "",
			"no contexts in %s; add one with \"flmctl context set NAME --endpoint URL\"\n"},
		{"ok", "version --output json", false, ExitOK, "\"protocol\": \"flame.v1\"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, ".flame", "flame.yaml")
			ios, _, out, errOut := iostreams.Test()
			ios.SetStdoutTTY(tt.stdoutTTY)
			f := cmdutil.New(ios, func(k string) (string, bool) {
				if k == "HOME" {
					return home, true
				}
				return "", false
			}, cmdutil.BuildInfo{Version: "dev"})
			if got := Run(context.Background(), f, strings.Fields(tt.args)); got != tt.want {
				t.Errorf("exit code %d, want %d", got, tt.want)
			}
			if !strings.Contains(out.String(), tt.wantOut) || (tt.wantOut == "" && out.Len() > 0) {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
			if want := strings.ReplaceAll(tt.wantErrOut, "%s", path); errOut.String() != want {
				t.Errorf("stderr %q, want %q", errOut.String(), want)
			}
		})
	}
}

func TestRun_InterruptedPrintsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ios, _, _, errOut := iostreams.Test()
	f := cmdutil.New(ios, nil, cmdutil.BuildInfo{})
	printError(f, nil, context.Canceled, exitCode(ctx, context.Canceled))
	if errOut.Len() != 0 {
		t.Errorf("printed %q after Ctrl-C", errOut.String())
	}
}
