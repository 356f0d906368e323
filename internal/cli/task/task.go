// Package task implements "flmctl task": create, get, list, watch and invoke
// the tasks of a session.
package task

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/internal/cli/session"
	"github.com/flmctl/flmctl/pkg/client"
)

// NewCmdTask returns "flmctl task" with its subcommands.
func NewCmdTask(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task <command>",
		Short: "Run and inspect the tasks of a session",
		Long: `A task is one input for a session's application; an instance of the
application runs it and stores its output.`,
		Example: `  printf 'hello' | flmctl task invoke echo-a1b2c3
  flmctl task list echo-a1b2c3
  flmctl task watch echo-a1b2c3 1`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdGet(f, nil),
		NewCmdList(f, nil),
		NewCmdWatch(f, nil),
		NewCmdInvoke(f, nil),
	)
	return cmd
}

// taskStates are the --state choices, lower-case state names.
func taskStates() []string {
	return []string{"pending", "running", "succeed", "failed", "cancelled"}
}

// readInput returns the task input: --input (@file, - or text) if given,
// else stdin when it is not a terminal and not empty, else none (nil).
func readInput(ios *iostreams.IOStreams, input string, given bool) ([]byte, error) {
	switch {
	case given && input == "-":
		return io.ReadAll(ios.In)
	case given && strings.HasPrefix(input, "@"):
		b, err := os.ReadFile(input[1:])
		if err != nil {
			return nil, fmt.Errorf("--input: read %s: %w", input[1:], err)
		}
		return b, nil
	case given:
		return []byte(input), nil
	case !ios.IsStdinTTY():
		b, err := io.ReadAll(ios.In)
		if err != nil {
			return nil, fmt.Errorf("read the task input from stdin: %w", err)
		}
		if len(b) == 0 {
			return nil, nil // e.g. stdin is /dev/null: no input rather than an empty one
		}
		return b, nil
	}
	return nil, nil
}

// getSession fetches the session id, bound to the connection.
func getSession(ctx context.Context, dial func(context.Context) (*client.Connection, error), id string) (*client.Session, error) {
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	return conn.GetSession(ctx, id)
}

func newList() *printers.List {
	return &printers.List{
		Kind: "task",
		Columns: []printers.Column{
			{Header: "id"}, {Header: "session"}, {Header: "state"}, {Header: "created"}, {Header: "completed"},
			{Header: "input", Wide: true}, {Header: "output", Wide: true},
		},
	}
}

func item(t *client.Task) printers.Item {
	return printers.Item{
		Name: t.ID,
		Cells: []any{t.ID, t.SessionID, t.State.String(), t.CreationTime, t.CompletionTime,
			sizeString(t.Input), sizeString(t.Output)},
		Object: t.Proto(),
	}
}

func sizeString(b []byte) string {
	if b == nil {
		return "<none>"
	}
	return fmt.Sprintf("%dB", len(b))
}

// completeSessionAndTask completes the session id, then the task id.
func completeSessionAndTask(f *cmdutil.Factory) cobra.CompletionFunc {
	sessions := session.CompleteSessionIDs(f)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return sessions(cmd, args, toComplete)
		case 1:
			ctx := context.Background()
			if cmd != nil && cmd.Context() != nil {
				ctx = cmd.Context()
			}
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			s, err := getSession(ctx, f.Client, args[0])
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var ids []string
			for t, err := range s.ListTasks(ctx) {
				if err != nil {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				if strings.HasPrefix(t.ID, toComplete) {
					ids = append(ids, t.ID)
				}
			}
			return ids, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
