package task

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/session"
	"github.com/flmctl/flmctl/pkg/client"
)

// InvokeOptions are the inputs of "flmctl task invoke".
type InvokeOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Session    string
	Input      string
	InputGiven bool
}

// NewCmdInvoke returns "flmctl task invoke". runF, when not nil, replaces the
// run function.
func NewCmdInvoke(f *cmdutil.Factory, runF func(context.Context, *InvokeOptions) error) *cobra.Command {
	opts := &InvokeOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "invoke <session-id> [--input <data>]",
		Short: "Run one task and print its output",
		Long: `Run one task in the session and wait for it. The input is --input, else
stdin when it is not a terminal, else none. The task's output is written to
stdout unchanged, so the command works in pipes; a failed or cancelled task
is reported on stderr with exit status 1.`,
		Example: `  printf 'hello' | flmctl task invoke echo-a1b2c3
  flmctl task invoke echo-a1b2c3 --input @request.json > response.json`,
		Args:              cmdutil.ExactArgs(1, "task invoke needs a session id (see \"flmctl session list\")"),
		ValidArgsFunction: session.CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Session = args[0]
			opts.InputGiven = cmd.Flags().Changed("input")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return invokeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Input, "input", "", "task input: `@file`, - for stdin, or the text itself")
	return cmd
}

func invokeRun(ctx context.Context, opts *InvokeOptions) error {
	input, err := readInput(opts.IO, opts.Input, opts.InputGiven)
	if err != nil {
		return err
	}
	s, err := getSession(ctx, opts.Client, opts.Session)
	if err != nil {
		return err
	}
	out, err := s.Invoke(ctx, input)
	if err != nil {
		return err
	}
	_, err = opts.IO.Out.Write(out)
	return err
}
