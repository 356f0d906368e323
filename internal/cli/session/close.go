package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// CloseOptions are the inputs of "flmctl session close".
type CloseOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	ID   string
	Wait bool
	// MaxPoll caps the pause between attempts with --wait; 0 means 1 s.
	MaxPoll time.Duration
}

// NewCmdClose returns "flmctl session close". runF, when not nil, replaces
// the run function.
func NewCmdClose(f *cmdutil.Factory, runF func(context.Context, *CloseOptions) error) *cobra.Command {
	opts := &CloseOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "close <session-id> [--wait]",
		Short: "Close a session",
		Long: `Close the session: its pending tasks are cancelled and it takes no new ones.
Closing a closed session succeeds. The cluster refuses while tasks are
running; --wait waits for them to finish (until Ctrl-C), then closes.`,
		Example: `  flmctl session close flmping-a1b2c3
  flmctl session close flmping-a1b2c3 --wait`,
		Args:              cmdutil.ExactArgs(1, "session close needs a session id (see \"flmctl session list\")"),
		ValidArgsFunction: CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return closeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait for running tasks to finish, then close")
	return cmd
}

func closeRun(ctx context.Context, opts *CloseOptions) error {
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	maxPoll := opts.MaxPoll
	if maxPoll <= 0 {
		maxPoll = time.Second
	}
	pause := 50 * time.Millisecond
	waiting := false
	for {
		_, err := conn.CloseSession(ctx, opts.ID)
		if err == nil {
			break
		}
		if !opts.Wait || !errors.Is(err, client.ErrInvalidState) {
			if errors.Is(err, client.ErrInvalidState) {
				return fmt.Errorf("%w; add --wait to wait for them", err)
			}
			return err
		}
		if !waiting {
			waiting = true
			fmt.Fprintf(opts.IO.ErrOut, "Waiting for the running tasks of session %q...\n", opts.ID)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, maxPoll)
	}
	fmt.Fprintf(opts.IO.ErrOut, "Session %q closed.\n", opts.ID)
	return nil
}
