// Package serve implements "flmctl serve": run a Flame service under the
// executor's host shim, either one built into flmctl or any program that
// reads a task's input on stdin and writes its output on stdout.
package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/builtin"
	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/service"
)

// Framings of --framing.
const (
	FramingLine   = "line"
	FramingLength = "length"
)

// Options are the inputs of "flmctl serve".
type Options struct {
	IO *iostreams.IOStreams
	// Environ returns the environment the command runs with, before the
	// FLAME_* task variables are added; the command sets os.Environ.
	Environ func() []string
	// TempDir is where the common-data file of a session is written; ""
	// means os.TempDir() (under the executor: the binding's own tmp).
	TempDir string

	Builtin string
	Command []string
	Stream  bool
	Framing string
	Timeout time.Duration
	Listen  string
	// Logger receives the serving events; nil means slog.Default().
	Logger *slog.Logger
}

// NewCmdServe returns "flmctl serve". runF, when not nil, replaces the run
// function.
func NewCmdServe(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Environ: os.Environ}
	if f != nil {
		opts.IO = f.IOStreams
	}
	names := builtinNames()
	cmd := &cobra.Command{
		Use:   "serve {--builtin <name> | [--stream] [--timeout <duration>] -- <command> [<arg>...]}",
		Short: "Serve a Flame application in this process",
		Long: `Serve a Flame application as an instance under the executor's host shim: the
process serves flame.v1.Instance on the Unix socket named by
FLAME_INSTANCE_ENDPOINT, which the executor manager sets when it starts an
instance. Register "flmctl serve ..." as an application's command.

There are two forms.

--builtin NAME serves one of the services built into flmctl: ` + strings.Join(names, ", ") + `.
The embedded cluster registers flmping and flmexec with this command.

-- COMMAND [ARG...] turns any program into a service. Each task runs COMMAND
with the task's input on stdin; what it writes on stdout is the task's
output, byte for byte (nothing written: no output). Its environment has
FLAME_SESSION_ID, FLAME_TASK_ID and FLAME_COMMON_DATA_FILE, a file holding
the session's common data (empty when the session has none), written when
the session is entered and removed when it is left. A non-zero exit fails
the task with the exit status and the last lines of stderr; stderr is also
copied to this process's stderr. --timeout fails a task that runs longer
and kills the command's process group. A command that cannot be found
fails the session enter, so the executor reports a bind failure.

--stream starts COMMAND once per session instead of once per task, and
passes tasks through its stdin and stdout as a stream of records: one line
per task by default (the reply line, without its newline, is the output;
an input containing a newline fails its task), or with
--framing length a 4-byte big-endian length and that many bytes, in both
directions. The command answers each record before it reads the next, so
a script can serve thousands of tasks without a process per task. The flag
is named for the protocol the command must speak, a stream of records,
rather than for the process's lifetime, because that is what the author of
the command has to get right. FLAME_TASK_ID is not set in this mode. If
the command exits, the task in hand fails with its exit status and stderr,
and the next task starts the command again, with the same session
variables. --timeout kills the command in this mode as well, with the same
outcome.

--listen unix:///PATH serves on that socket instead of
FLAME_INSTANCE_ENDPOINT, to try a service by hand with any gRPC client.`,
		Example: `  # serve a shell script, one process per task:
  flmctl serve -- ./score.sh

  # one process per session, one task per line, at most 10 s per task:
  flmctl serve --stream --timeout 10s -- ./worker.sh

  # by hand, outside a cluster:
  flmctl serve --listen unix:///tmp/echo.sock --builtin echo`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			if err := validate(cmd, opts, names); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmdutil.StringEnumFlag(cmd, &opts.Builtin, "builtin", "", "", names, "serve the built-in service `name`")
	cmd.Flags().BoolVar(&opts.Stream, "stream", false, "start the command once per session and stream tasks through it")
	cmdutil.StringEnumFlag(cmd, &opts.Framing, "framing", "", FramingLine, []string{FramingLine, FramingLength},
		"record `framing` of --stream")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "fail a task that runs longer than `duration` and kill the command (0: no limit)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "", "serve on the socket `unix:///path` instead of $FLAME_INSTANCE_ENDPOINT")
	return cmd
}

// validate checks the flags and arguments against each other.
func validate(cmd *cobra.Command, opts *Options, names []string) error {
	if opts.Builtin == "" && len(opts.Command) == 0 {
		return cmdutil.FlagErrorf("flmctl serve needs a service: --builtin NAME (one of %s) or -- COMMAND [ARG...] "+
			"(a program that reads a task's input on stdin and writes its output on stdout)", strings.Join(names, ", "))
	}
	if opts.Builtin != "" {
		if len(opts.Command) > 0 {
			return cmdutil.FlagErrorf("--builtin takes no command; remove %q or drop --builtin", strings.Join(opts.Command, " "))
		}
		for _, name := range []string{"stream", "framing", "timeout"} {
			if cmd.Flags().Changed(name) {
				return cmdutil.FlagErrorf("--%s applies to a command (flmctl serve -- COMMAND), not to --builtin", name)
			}
		}
	}
	if cmd.Flags().Changed("framing") && !opts.Stream {
		return cmdutil.FlagErrorf("--framing applies to --stream; add --stream or remove --framing")
	}
	if opts.Timeout < 0 {
		return cmdutil.FlagErrorf("--timeout must not be negative, got %s", opts.Timeout)
	}
	if opts.Listen != "" {
		if _, err := listenPath(opts.Listen); err != nil {
			return cmdutil.FlagErrorWrap(err)
		}
	}
	return nil
}

func builtinNames() []string {
	var names []string
	for name := range builtin.Services() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// serveRun builds the service and serves it until ctx is done.
func serveRun(ctx context.Context, opts *Options) error {
	errOut := io.Discard
	if opts.IO != nil {
		errOut = opts.IO.ErrOut
	}
	var svc service.Service
	var closer interface{ close() }
	if opts.Builtin != "" {
		s, ok := builtin.Services()[opts.Builtin]
		if !ok {
			return cmdutil.FlagErrorf("unknown built-in service %q; choose one of %s", opts.Builtin, strings.Join(builtinNames(), ", "))
		}
		svc = s
	} else {
		cfg := commandConfig{
			argv:    opts.Command,
			timeout: opts.Timeout,
			stderr:  errOut,
			tempDir: opts.TempDir,
		}
		if opts.Environ != nil {
			cfg.environ = opts.Environ()
		}
		if opts.Stream {
			s := newStreamService(cfg, opts.Framing == FramingLength)
			svc, closer = s, s
		} else {
			s := newExecService(cfg)
			svc, closer = s, s
		}
	}
	if closer != nil {
		// Run calls nothing on the service after a shutdown signal, not even
		// OnSessionLeave: stop what the service started ourselves.
		defer closer.close()
	}

	runOpts := []service.Option{service.WithLogger(opts.Logger)}
	if opts.Listen != "" {
		lis, path, err := listen(opts.Listen)
		if err != nil {
			return err
		}
		runOpts = append(runOpts, service.WithListener(lis))
		fmt.Fprintf(errOut, "Serving flame.v1.Instance on unix://%s until interrupted.\n"+
			"Call it with any gRPC client that has proto/flame/v1/shim.proto: OnSessionEnter, then OnTaskInvoke per task, then OnSessionLeave.\n"+
			"For example: grpcurl -plaintext -unix -import-path proto -proto flame/v1/shim.proto -d '{\"task_id\":\"1\",\"session_id\":\"s\",\"input\":\"aGk=\"}' %s flame.v1.Instance/OnTaskInvoke\n",
			path, path)
	}
	return service.RunContext(ctx, svc, runOpts...)
}
