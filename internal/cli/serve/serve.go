// Package serve implements "flmctl serve": run a Flame service under the
// executor's host shim.
package serve

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/builtin"
	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/service"
)

// Options are the inputs of "flmctl serve".
type Options struct {
	Builtin string
	Command []string
}

// NewCmdServe returns "flmctl serve". runF, when not nil, replaces the run
// function.
func NewCmdServe(_ *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{}
	names := builtinNames()
	cmd := &cobra.Command{
		Use:   "serve --builtin <name>",
		Short: "Serve a Flame application in this process",
		Long: `Serve a Flame application as an instance under the executor's host shim: the
process serves flame.v1.Instance on the Unix socket named by
FLAME_INSTANCE_ENDPOINT, which the executor manager sets when it starts an
instance.

--builtin serves one of the services built into flmctl: ` + strings.Join(names, ", ") + `.
The embedded cluster registers flmping and flmexec with this command.
Serving an arbitrary command (flmctl serve -- CMD) is not available yet.`,
		Example: `  # by hand, outside a cluster:
  FLAME_INSTANCE_ENDPOINT=/tmp/echo.sock flmctl serve --builtin echo`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			if opts.Builtin == "" {
				if len(args) > 0 {
					return fmt.Errorf("serving a command (flmctl serve -- %s) is not implemented yet; use --builtin %s", strings.Join(args, " "), strings.Join(names, "|"))
				}
				return cmdutil.FlagErrorf("flmctl serve needs --builtin NAME (one of %s)", strings.Join(names, ", "))
			}
			if len(args) > 0 {
				return cmdutil.FlagErrorf("--builtin takes no command; remove %q", strings.Join(args, " "))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmdutil.StringEnumFlag(cmd, &opts.Builtin, "builtin", "", "", names, "serve the built-in service `name`")
	return cmd
}

func builtinNames() []string {
	var names []string
	for name := range builtin.Services() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func serveRun(ctx context.Context, opts *Options) error {
	svc, ok := builtin.Services()[opts.Builtin]
	if !ok {
		return cmdutil.FlagErrorf("unknown built-in service %q; choose one of %s", opts.Builtin, strings.Join(builtinNames(), ", "))
	}
	return service.RunContext(ctx, svc)
}
