package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// DeleteOptions are the inputs of "flmctl session delete".
type DeleteOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	ID string
}

// NewCmdDelete returns "flmctl session delete". runF, when not nil, replaces
// the run function.
func NewCmdDelete(f *cmdutil.Factory, runF func(context.Context, *DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "delete <session-id>",
		Short: "Delete a closed session and its tasks",
		Long: `Delete the session with all its tasks. The session must be closed (see
"flmctl session close") and all its tasks finished.`,
		Example:           `  flmctl session delete flmping-a1b2c3`,
		Args:              cmdutil.ExactArgs(1, "session delete needs a session id (see \"flmctl session list\")"),
		ValidArgsFunction: CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.DeleteSession(ctx, opts.ID); err != nil {
		if errors.Is(err, client.ErrInvalidState) && !strings.Contains(err.Error(), "close it") {
			return fmt.Errorf("%w; close it first with \"flmctl session close %s --wait\"", err, opts.ID)
		}
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Session %q deleted.\n", opts.ID)
	return nil
}
