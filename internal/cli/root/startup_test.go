package root

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// TestCLIPackagesAllocateNothingAtInit: every run of flmctl, even "flmctl
// --help", pays for the package-level variables and init functions of every
// package in the binary. The CLI's own packages must not add to it: a regexp, template, map or replacer that
// a command needs is built when the command runs. The test runs its own
// binary, which links every command package, with GODEBUG=inittrace=1 and
// -test.run=^$, and reads what each package allocated at init.
func TestCLIPackagesAllocateNothingAtInit(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate at init")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// A -race binary otherwise sleeps 1 s at exit.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "GORACE="+gorace)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.Bytes())
	}
	const prefix = "github.com/flmctl/flmctl/internal/cli/"
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(stderr.Bytes()))
	for sc.Scan() {
		// init PKG @0.5 ms, 0.01 ms clock, 192 bytes, 2 allocs
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[10] != "allocs" {
			continue
		}
		seen++
		if !strings.HasPrefix(f[1], prefix) {
			continue
		}
		size, _ := strconv.Atoi(f[7])
		allocs, _ := strconv.Atoi(f[9])
		if size != 0 || allocs != 0 {
			t.Errorf("%s allocates %d bytes in %d allocations at init; build what a command needs when it runs", f[1], size, allocs)
		}
	}
	if seen == 0 {
		t.Fatalf("no inittrace lines in the output of %s:\n%s", os.Args[0], stderr.Bytes())
	}
}

// offlineFactory returns a Factory whose Config and Client fail t: help,
// version and completion must not read flame.yaml nor dial.
func offlineFactory(t *testing.T) (*cmdutil.Factory, *bytes.Buffer) {
	t.Helper()
	ios, _, out, _ := iostreams.Test()
	f := cmdutil.New(ios, func(string) (string, bool) { return "", false }, cmdutil.BuildInfo{Version: "v9"})
	f.Config = func() (*contexts.Resolved, error) {
		t.Error("Config called")
		return nil, context.Canceled
	}
	f.Client = func(context.Context) (*client.Connection, error) {
		t.Error("Client called")
		return nil, context.Canceled
	}
	return f, out
}

func TestHelpIsOffline(t *testing.T) {
	for _, args := range [][]string{
		{"--help"},
		{},
		{"--version"},
		{"version"},
		{"help", "session", "list"},
		{"session", "list", "--help"},
		{"completion", "bash"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			f, out := offlineFactory(t)
			cmd := NewCmdRoot(f)
			cmd.SetArgs(args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if out.Len() == 0 {
				t.Error("no output")
			}
		})
	}
}

// BenchmarkNewCmdRoot is what building the command tree costs every run.
func BenchmarkNewCmdRoot(b *testing.B) {
	ios, _, _, _ := iostreams.Test()
	for b.Loop() {
		NewCmdRoot(cmdutil.New(ios, nil, cmdutil.BuildInfo{}))
	}
}

// BenchmarkHelp is "flmctl --help" after the process has started.
func BenchmarkHelp(b *testing.B) {
	ios, _, out, _ := iostreams.Test()
	for b.Loop() {
		out.Reset()
		cmd := NewCmdRoot(cmdutil.New(ios, nil, cmdutil.BuildInfo{}))
		cmd.SetArgs([]string{"--help"})
		if err := cmd.Execute(); err != nil {
			b.Fatal(err)
		}
	}
}
