package node

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// ListOptions are the inputs of "flmctl node list".
type ListOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Format    string
	NoHeaders bool
}

// NewCmdList returns "flmctl node list". runF, when not nil, replaces the run
// function.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the nodes of the cluster",
		Example: `  flmctl node list
  flmctl node list --output wide`,
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
	nodes, err := conn.ListNodes(ctx)
	if err != nil {
		return err
	}
	l := newList()
	for _, n := range nodes {
		l.Items = append(l.Items, item(n))
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, "no nodes have registered with the cluster")
}
