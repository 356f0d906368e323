// Package app implements "flmctl app": register, list, get, update, apply and
// delete the applications of a Flame cluster.
package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// NewCmdApp returns "flmctl app" with its subcommands.
func NewCmdApp(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "app <command>",
		Aliases: []string{"application"},
		Short:   "Register and inspect applications",
		Long: `An application is a program the cluster starts to run the tasks of its
sessions. Applications are described by upstream Flame's YAML format
("metadata.name" and "spec"), which "flmctl app get NAME --output yaml" prints.`,
		Example: `  flmctl app register --file echo.yaml
  flmctl app list
  flmctl app get flmping --output yaml`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdRegister(f, nil),
		NewCmdList(f, nil),
		NewCmdGet(f, nil),
		NewCmdUpdate(f, nil),
		NewCmdApply(f, nil),
		NewCmdDelete(f, nil),
	)
	return cmd
}

// completeNames completes application names from the cluster, giving up
// silently after a second.
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
		apps, err := conn.ListApplications(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, a := range apps {
			if strings.HasPrefix(a.Name, toComplete) {
				names = append(names, a.Name)
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

func newList() *printers.List {
	return &printers.List{
		Kind: "app",
		Columns: []printers.Column{
			{Header: "name"}, {Header: "state"}, {Header: "shim"}, {Header: "created"},
			{Header: "command", Wide: true}, {Header: "max instances", Wide: true}, {Header: "description", Wide: true},
		},
	}
}

func item(a *client.Application) printers.Item {
	maxInst := "unlimited"
	if a.MaxInstances != nil {
		maxInst = formatUint(*a.MaxInstances)
	}
	return printers.Item{
		Name:   a.Name,
		Cells:  []any{a.Name, a.State.String(), a.Shim.String(), a.CreationTime, a.Command, maxInst, a.Description},
		Object: manifestOf(a),
	}
}
