package task

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// GetOptions are the inputs of "flmctl task get".
type GetOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Session string
	Task    string
	Raw     bool
	Format  string
}

// NewCmdGet returns "flmctl task get". runF, when not nil, replaces the run
// function.
func NewCmdGet(f *cmdutil.Factory, runF func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "get <session-id> <task-id> [--raw]",
		Short: "Show a task",
		Long: `Show a task of a session. --raw writes only the task's output bytes to
stdout, exactly as the application produced them (--output is the format of
the other views).`,
		Example: `  flmctl task get echo-a1b2c3 1
  flmctl task get echo-a1b2c3 1 --raw > result.bin
  flmctl task get echo-a1b2c3 1 --output json`,
		Args:              cmdutil.ExactArgs(2, "task get needs a session id and a task id (see \"flmctl task list SESSION\")"),
		ValidArgsFunction: completeSessionAndTask(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Session, opts.Task = args[0], args[1]
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if opts.Raw && cmd.Flags().Changed(cmdutil.OutputFlag) {
				return cmdutil.FlagErrorf("--raw and --output cannot be used together")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Raw, "raw", false, "write only the task's output bytes to stdout")
	cmdutil.EnableOutput(cmd, printers.FormatTable, printers.AllowedFormats()...)
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	p, err := printers.New(opts.Format, printers.Options{TTY: opts.IO.IsStdoutTTY()})
	if err != nil {
		return err
	}
	s, err := getSession(ctx, opts.Client, opts.Session)
	if err != nil {
		return err
	}
	t, err := s.GetTask(ctx, opts.Task)
	if err != nil {
		return err
	}
	if opts.Raw {
		if !t.State.IsTerminal() {
			fmt.Fprintf(opts.IO.ErrOut, "warning: task %s is %s; it has no output yet\n", t.ID, t.State)
		}
		_, err := opts.IO.Out.Write(t.Output)
		return err
	}
	l := newList()
	l.Items = []printers.Item{item(t)}
	return p.PrintOne(opts.IO.Out, l)
}
