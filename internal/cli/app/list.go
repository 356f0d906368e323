package app

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// ListOptions are the inputs of "flmctl app list".
type ListOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Format    string
	NoHeaders bool
}

// NewCmdList returns "flmctl app list". runF, when not nil, replaces the run
// function.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the registered applications",
		Long: `List the registered applications. --output json or yaml prints them in the
format "flmctl app register --file" reads.`,
		Example: `  flmctl app list
  flmctl app list --output wide`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	cmdutil.EnableListOutput(cmd, &opts.NoHeaders)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	apps, err := conn.ListApplications(ctx)
	if err != nil {
		return err
	}
	l := newList()
	for _, a := range apps {
		l.Items = append(l.Items, item(a))
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, "no applications registered; register one with \"flmctl app register\"")
}
