package task

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// WatchOptions are the inputs of "flmctl task watch".
type WatchOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Session string
	Task    string
}

// NewCmdWatch returns "flmctl task watch". runF, when not nil, replaces the
// run function.
func NewCmdWatch(f *cmdutil.Factory, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "watch <session-id> <task-id>",
		Short: "Follow a task until it ends",
		Long: `Print each state of the task as it happens, one line each ("<task-id>
<state>"), until a terminal state. The exit status is 0 when the task
succeeded and 1 when it failed or was cancelled; the failure goes to stderr.`,
		Example:           `  flmctl task watch echo-a1b2c3 1`,
		Args:              cmdutil.ExactArgs(2, "task watch needs a session id and a task id (see \"flmctl task list SESSION\")"),
		ValidArgsFunction: completeSessionAndTask(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Session, opts.Task = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return watchRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func watchRun(ctx context.Context, opts *WatchOptions) error {
	s, err := getSession(ctx, opts.Client, opts.Session)
	if err != nil {
		return err
	}
	w, err := s.WatchTask(ctx, opts.Task)
	if err != nil {
		return err
	}
	defer w.Close()
	var last *client.Task
	for {
		t, err := w.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if last == nil || t.State != last.State {
			if _, err := fmt.Fprintf(opts.IO.Out, "%s %s\n", t.ID, t.State); err != nil {
				return err
			}
		}
		last = t
		if t.State.IsTerminal() {
			break
		}
	}
	if last == nil || last.State == client.TaskSucceed {
		return nil
	}
	return failure(last)
}

// failure describes a task that ended Failed or Cancelled.
func failure(t *client.Task) error {
	if t.State == client.TaskCancelled {
		return fmt.Errorf("task %s of session %q was cancelled", t.ID, t.SessionID)
	}
	for _, e := range t.Events {
		if e.Code == int32(client.TaskFailed) && e.Message != "" {
			return fmt.Errorf("task %s of session %q failed: %s", t.ID, t.SessionID, e.Message)
		}
	}
	return fmt.Errorf("task %s of session %q failed without an error message", t.ID, t.SessionID)
}
