// Package cluster implements "flmctl cluster": a single-node Flame cluster
// on this machine (the embedded cluster of pkg/local).
package cluster

import (
	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
)

// NewCmdCluster returns "flmctl cluster" with its verbs.
func NewCmdCluster(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster <command>",
		Short: "Run a Flame cluster on this machine",
		Long: `Run a complete single-node Flame cluster on this machine: session manager,
scheduler, durable store and an executor manager that starts instance
processes. It speaks upstream Flame's protocol, so upstream's clients and
services work with it too.`,
		Example: `  flmctl cluster start --detach
  flmctl cluster status
  flmctl cluster stop`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(NewCmdStart(f, nil), NewCmdStop(f, nil), NewCmdStatus(f, nil))
	return cmd
}
