package app

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// GetOptions are the inputs of "flmctl app get".
type GetOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Name   string
	Format string
}

// NewCmdGet returns "flmctl app get". runF, when not nil, replaces the run
// function.
func NewCmdGet(f *cmdutil.Factory, runF func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "get <name>",
		Short: "Show an application",
		Long: `Show a registered application. --output yaml prints a document that
"flmctl app register --file" and "flmctl app apply --file" accept back.`,
		Example: `  flmctl app get flmping
  flmctl app get flmping --output yaml > flmping.yaml`,
		Args:              cmdutil.ExactArgs(1, "app get needs the name of an application (see \"flmctl app list\")"),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmdutil.EnableOutput(cmd, printers.FormatTable, printers.AllowedFormats()...)
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	a, err := conn.GetApplication(ctx, opts.Name)
	if err != nil {
		return err
	}
	l := newList()
	l.Items = []printers.Item{item(a)}
	return cmdutil.PrintOne(opts.IO, opts.Format, l)
}
