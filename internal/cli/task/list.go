package task

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/session"
	"github.com/flmctl/flmctl/pkg/client"
)

// ListOptions are the inputs of "flmctl task list".
type ListOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Session   string
	State     string
	Format    string
	NoHeaders bool
}

// NewCmdList returns "flmctl task list". runF, when not nil, replaces the run
// function.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "list <session-id>",
		Aliases: []string{"ls"},
		Short:   "List the tasks of a session",
		Example: `  flmctl task list echo-a1b2c3
  flmctl task list echo-a1b2c3 --state failed --output wide`,
		Args:              cmdutil.ExactArgs(1, "task list needs a session id (see \"flmctl session list\")"),
		ValidArgsFunction: session.CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Session = args[0]
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmdutil.StringEnumFlag(cmd, &opts.State, "state", "", "", taskStates(), "list only tasks in this `state`")
	cmdutil.EnableListOutput(cmd, &opts.NoHeaders)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	s, err := getSession(ctx, opts.Client, opts.Session)
	if err != nil {
		return err
	}
	l := newList()
	for t, err := range s.ListTasks(ctx) {
		if err != nil {
			return err
		}
		if opts.State != "" && !strings.EqualFold(t.State.String(), opts.State) {
			continue
		}
		l.Items = append(l.Items, item(t))
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, fmt.Sprintf("no tasks found in session %q", opts.Session))
}
