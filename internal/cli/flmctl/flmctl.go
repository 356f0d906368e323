// Package flmctl is the flmctl program as a function: Main builds the
// Factory, runs the command tree and turns the outcome into an exit code.
// cmd/flmctl only calls it, and tests register it as a command of testscript.
package flmctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/root"
	"github.com/flmctl/flmctl/internal/cli/version"
	"github.com/flmctl/flmctl/pkg/client"
)

// Exit codes of flmctl, documented in "flmctl --help".
const (
	ExitOK          = 0   // success, also for an empty result
	ExitError       = 1   // any other failure
	ExitUsage       = 2   // unknown command or flag, wrong arguments
	ExitUnavailable = 3   // cannot reach Flame
	ExitNotFound    = 4   // the cluster has no such resource
	ExitInterrupted = 130 // Ctrl-C, or the user declined at a prompt
)

// Main runs flmctl with the process's arguments, streams and environment and
// returns the exit code. Ctrl-C (SIGINT) and SIGTERM cancel the command's
// context; a second one kills the process, in case a command hangs.
func Main() int {
	ctx, stop := interruptContext()
	defer stop()
	f := cmdutil.New(iostreams.System(os.LookupEnv), os.LookupEnv, version.Info())
	if len(os.Args) > 0 {
		f.ExecutableName = strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	}
	return Run(ctx, f, os.Args[1:])
}

// Run executes the command line args with f and returns the exit code. It
// prints the error, if any, once on f's stderr. ctx being cancelled means
// the user interrupted the command.
func Run(ctx context.Context, f *cmdutil.Factory, args []string) int {
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(args)
	failed, err := cmd.ExecuteContextC(ctx)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close connection: %w", cerr)
	}
	code := exitCode(ctx, err)
	printError(f, failed, err, code)
	return code
}

// interruptContext returns a context that the first SIGINT or SIGTERM
// cancels; the default handlers are then back, so a second one kills the
// process. context.Cause tells the signal, as for signal.NotifyContext.
// stop releases the context.
//
// The handler is installed by the first call of Done, not here: os/signal
// starts a goroutine and an OS thread for it, about 0.3 ms, a tenth of what
// "flmctl --help" costs, and help, version and completion never wait on
// their context. Any command that can block does call Done first, directly,
// through a child context or through gRPC. Before that, Ctrl-C has its
// default effect: the process dies of SIGINT, which shells report as 130,
// like ExitInterrupted.
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &interruptCtx{Context: ctx, cancel: cancel, sigs: make(chan os.Signal, 1)}
	return c, c.stop
}

// interruptCtx is the context of interruptContext. Its embedded context is
// the one the signal cancels; child contexts find it through Value and
// Done, as they do for signal.NotifyContext.
type interruptCtx struct {
	context.Context
	cancel context.CancelCauseFunc
	sigs   chan os.Signal
	once   sync.Once // installs the handler
}

func (c *interruptCtx) Done() <-chan struct{} {
	c.once.Do(c.listen)
	return c.Context.Done()
}

func (c *interruptCtx) listen() {
	signal.Notify(c.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-c.sigs:
			signal.Stop(c.sigs)
			c.cancel(errors.New(sig.String() + " signal received"))
		case <-c.Context.Done():
		}
	}()
}

func (c *interruptCtx) stop() {
	c.once.Do(func() {}) // no handler after stop
	c.cancel(nil)
	signal.Stop(c.sigs)
}

func (c *interruptCtx) String() string { return "flmctl.interruptContext" }

// exitCode is the one mapping from a command's error to the exit code.
func exitCode(ctx context.Context, err error) int {
	var noResults *cmdutil.NoResultsError
	switch {
	case err == nil, errors.As(err, &noResults):
		return ExitOK
	case errors.Is(err, cmdutil.ErrCancel), ctx.Err() != nil:
		// Any failure after Ctrl-C is a consequence of it.
		return ExitInterrupted
	case isUsageError(err):
		return ExitUsage
	case errors.Is(err, client.ErrUnavailable):
		return ExitUnavailable
	case errors.Is(err, client.ErrNotFound):
		return ExitNotFound
	default:
		return ExitError
	}
}

// isUsageError reports a *cmdutil.FlagError, or one of the errors cobra
// itself returns for a bad command line (its Args validators, required and
// grouped flags), which have no type to match.
func isUsageError(err error) bool {
	var fe *cmdutil.FlagError
	if errors.As(err, &fe) {
		return true
	}
	var flame *client.FlameError
	if errors.As(err, &flame) {
		return false // the server's verdict, not the command line's
	}
	msg := err.Error()
	for _, p := range [][2]string{
		{"unknown command ", " for "},
		{"unknown flag: ", ""},
		{"unknown shorthand flag: ", ""},
		{"required flag(s) ", " not set"},
		{"if any flags in the group ", ""},
		{"at least one of the flags in the group ", ""},
		{"accepts ", " arg(s)"},
		{"requires at least ", " arg(s)"},
		{"invalid argument \"", "\" for \""},
	} {
		if strings.HasPrefix(msg, p[0]) && strings.Contains(msg, p[1]) {
			return true
		}
	}
	return false
}

func printError(f *cmdutil.Factory, cmd *cobra.Command, err error, code int) {
	stderr := f.IOStreams.ErrOut
	var noResults *cmdutil.NoResultsError
	switch {
	case err == nil, errors.Is(err, cmdutil.ErrSilent), code == ExitInterrupted:
		return
	case errors.As(err, &noResults):
		if f.IOStreams.IsStdoutTTY() {
			fmt.Fprintln(stderr, noResults.Error())
		}
		return
	}
	fmt.Fprintln(stderr, err.Error())
	if code == ExitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run \"%s --help\" for usage.\n", cmd.CommandPath())
	}
}
