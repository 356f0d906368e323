package executor

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// ListOptions are the inputs of "flmctl executor list".
type ListOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Format    string
	NoHeaders bool
}

// NewCmdList returns "flmctl executor list". runF, when not nil, replaces the
// run function.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the executors of the cluster",
		Long: `List the executors of the cluster with their state and the session they
are bound to, if any.`,
		Example: `  flmctl executor list
  flmctl executor list --output json`,
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
	executors, err := conn.ListExecutors(ctx)
	if err != nil {
		return err
	}
	l := &printers.List{
		Kind: "executor",
		Columns: []printers.Column{
			{Header: "id"}, {Header: "node"}, {Header: "state"}, {Header: "session"},
			{Header: "resreq", Wide: true}, {Header: "shim", Wide: true},
		},
	}
	for _, e := range executors {
		l.Items = append(l.Items, printers.Item{
			Name:   e.ID,
			Cells:  []any{e.ID, e.Node, e.State.String(), e.SessionID, e.ResReq.String(), e.Shim.String()},
			Object: e.Proto(),
		})
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, "no executors; the cluster starts them when sessions have tasks")
}
