package task

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/session"
	"github.com/flmctl/flmctl/pkg/client"
)

// CreateOptions are the inputs of "flmctl task create".
type CreateOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Session    string
	Input      string
	InputGiven bool
}

// NewCmdCreate returns "flmctl task create". runF, when not nil, replaces the
// run function.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "create <session-id> [--input <data>]",
		Short: "Add a task to a session",
		Long: `Add a task to the session and print its id on stdout without waiting for it.
The input is --input, else stdin when it is not a terminal, else none.`,
		Example: `  flmctl task create echo-a1b2c3 --input hello
  flmctl task create echo-a1b2c3 --input @request.json
  printf 'hello' | flmctl task create echo-a1b2c3`,
		Args:              cmdutil.ExactArgs(1, "task create needs a session id (see \"flmctl session list\")"),
		ValidArgsFunction: session.CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Session = args[0]
			opts.InputGiven = cmd.Flags().Changed("input")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Input, "input", "", "task input: `@file`, - for stdin, or the text itself")
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
	input, err := readInput(opts.IO, opts.Input, opts.InputGiven)
	if err != nil {
		return err
	}
	s, err := getSession(ctx, opts.Client, opts.Session)
	if err != nil {
		return err
	}
	t, err := s.CreateTask(ctx, input)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(opts.IO.Out, t.ID)
	return err
}
