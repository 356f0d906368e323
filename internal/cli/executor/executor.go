// Package executor implements "flmctl executor": list the executors of a
// Flame cluster.
package executor

import (
	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
)

// NewCmdExecutor returns "flmctl executor" with its subcommands.
func NewCmdExecutor(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "executor <command>",
		Short: "Inspect the executors of the cluster",
		Long: `An executor is a slot on a node that runs the tasks of one session at a
time through an instance of the session's application.`,
		Example: `  flmctl executor list
  flmctl executor list --output wide`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(NewCmdList(f, nil))
	return cmd
}
