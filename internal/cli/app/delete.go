package app

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// DeleteOptions are the inputs of "flmctl app delete".
type DeleteOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Name string
	Yes  bool
}

// NewCmdDelete returns "flmctl app delete". runF, when not nil, replaces the
// run function.
func NewCmdDelete(f *cmdutil.Factory, runF func(context.Context, *DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "delete <name> [--yes]",
		Aliases: []string{"unregister", "rm"},
		Short:   "Unregister an application",
		Long: `Unregister the application and delete its closed sessions. The cluster
refuses while it has open sessions. On a terminal it asks first; elsewhere
--yes is required.`,
		Example: `  flmctl app delete echo
  flmctl app delete echo --yes`,
		Args:              cmdutil.ExactArgs(1, "app delete needs the name of an application (see \"flmctl app list\")"),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if !opts.Yes && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("--yes is required to delete application %q when not running interactively", opts.Name)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking for confirmation")
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	if !opts.Yes {
		if _, err := conn.GetApplication(ctx, opts.Name); err != nil {
			return err
		}
		ok, err := opts.IO.Confirm(fmt.Sprintf("Unregister application %q and delete its closed sessions?", opts.Name))
		if err != nil {
			return err
		}
		if !ok {
			return cmdutil.ErrCancel
		}
	}
	if err := conn.UnregisterApplication(ctx, opts.Name); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Application %q deleted.\n", opts.Name)
	return nil
}
