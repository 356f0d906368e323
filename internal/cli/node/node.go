// Package node implements "flmctl node": list and show the nodes of a Flame
// cluster.
package node

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// NewCmdNode returns "flmctl node" with its subcommands.
func NewCmdNode(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node <command>",
		Short: "Inspect the nodes of the cluster",
		Long: `A node is a machine whose executor manager has registered with the cluster;
it runs the cluster's executors.`,
		Example: `  flmctl node list
  flmctl node get my-host --output yaml`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdGet(f, nil))
	return cmd
}

func newList() *printers.List {
	return &printers.List{
		Kind: "node",
		Columns: []printers.Column{
			{Header: "name"}, {Header: "state"}, {Header: "capacity"}, {Header: "allocatable"},
			{Header: "hostname", Wide: true}, {Header: "os", Wide: true}, {Header: "arch", Wide: true},
			{Header: "addresses", Wide: true}, {Header: "last heartbeat", Wide: true},
		},
	}
}

func item(n *client.Node) printers.Item {
	addrs := make([]string, len(n.Addresses))
	for i, a := range n.Addresses {
		addrs[i] = a.Type + "=" + a.Address
	}
	return printers.Item{
		Name: n.Name,
		Cells: []any{n.Name, n.State.String(), n.Capacity.String(), n.Allocatable.String(),
			n.Hostname, n.OS, n.Arch, strings.Join(addrs, ","), n.LastHeartbeat},
		Object: n.Proto(),
	}
}

// completeNames completes node names from the cluster, silently giving up
// after a second.
func completeNames(f *cmdutil.Factory) cobra.CompletionFunc {
	return cmdutil.CompleteFirstArg(func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx := context.Background()
		if cmd != nil && cmd.Context() != nil {
			ctx = cmd.Context()
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := f.Client(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		nodes, err := conn.ListNodes(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, n := range nodes {
			if strings.HasPrefix(n.Name, toComplete) {
				names = append(names, n.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}
