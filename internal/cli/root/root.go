// Package root assembles the flmctl command tree. The tree is built anew for
// every invocation from a Factory; nothing is registered globally.
package root

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/flmctl/flmctl/internal/cli/app"
	"github.com/flmctl/flmctl/internal/cli/cache"
	"github.com/flmctl/flmctl/internal/cli/cluster"
	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/completion"
	contextcmd "github.com/flmctl/flmctl/internal/cli/context"
	"github.com/flmctl/flmctl/internal/cli/executor"
	"github.com/flmctl/flmctl/internal/cli/node"
	"github.com/flmctl/flmctl/internal/cli/serve"
	"github.com/flmctl/flmctl/internal/cli/session"
	"github.com/flmctl/flmctl/internal/cli/task"
	"github.com/flmctl/flmctl/internal/cli/version"
)

// Command groups of "flmctl --help", in the order they are shown. A group is
// listed only once a command belongs to it; nouns still to come go in:
// workload (app, session, task, run, serve), data (cache), cluster (cluster,
// node, executor).
func groupOrder() []cobra.Group {
	return []cobra.Group{
		{ID: "workload", Title: "Workload commands:"},
		{ID: "data", Title: "Data commands:"},
		{ID: "cluster", Title: "Cluster commands:"},
		{ID: "config", Title: "Configuration commands:"},
	}
}

const long = `flmctl runs and manages workloads on Flame: applications, sessions and their
tasks, the object cache, and a single-node Flame cluster on this machine.

Configuration is read from the first of:
  1. the --config flag (only that file is read)
  2. $FLAME_CONFIG
  3. ~/.flame/flame.yaml (may be missing: the built-in defaults apply)
The context is --context, else $FLAME_CONTEXT, else the file's current-context.
Each setting comes from the first of: flag, environment (FLAME_ENDPOINT,
FLAME_CACHE_ENDPOINT, FLAME_CACHE_STORAGE, FLAME_CA_FILE), the context,
the default (cluster http://127.0.0.1:8080, cache grpc://127.0.0.1:9090).
"flmctl context view" shows the result.

Data goes to stdout, everything else (progress, confirmations, warnings,
errors) to stderr. Colors follow NO_COLOR.

Exit codes:
  0    success (also when a list is empty)
  1    error
  2    usage error: unknown command or flag, wrong arguments
  3    cannot reach Flame
  4    not found on the Flame cluster
  130  interrupted (Ctrl-C) or cancelled at a prompt`

// envFlags are the global flags that take a FLAME_* environment variable as
// their default. FLAME_CONFIG and FLAME_ENDPOINT are not here: pkg/contexts
// reads them itself, with the same precedence, for SDK users too.
func envFlags() []string { return []string{"context"} }

// NewCmdRoot returns the root command "flmctl" with every command.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flmctl <command> <subcommand> [flags]",
		Short: "Run and manage Flame workloads",
		Long:  long,
		Example: `  flmctl context set local --endpoint http://127.0.0.1:8080
  flmctl context list
  flmctl --context prod context view --output json`,
		Version:       f.Build.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Root has commands and no arguments of its own, so an argument is an
		// unknown command: a usage error.
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, f.LookupEnv); err != nil {
				return err
			}
			_, err := cmdutil.OutputFormat(cmd)
			return err
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	cmd.SetVersionTemplate("flmctl version {{.Version}}\n")
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return cmdutil.FlagErrorWrap(err)
	})
	cmdutil.AddGlobalFlags(cmd, f)

	ctxCmd := contextcmd.NewCmdContext(f)
	ctxCmd.GroupID = "config"
	clusterCmd := cluster.NewCmdCluster(f)
	clusterCmd.GroupID = "cluster"
	serveCmd := serve.NewCmdServe(f, nil)
	serveCmd.GroupID = "workload"
	appCmd := app.NewCmdApp(f)
	appCmd.GroupID = "workload"
	sessionCmd := session.NewCmdSession(f)
	sessionCmd.GroupID = "workload"
	taskCmd := task.NewCmdTask(f)
	taskCmd.GroupID = "workload"
	nodeCmd := node.NewCmdNode(f)
	nodeCmd.GroupID = "cluster"
	executorCmd := executor.NewCmdExecutor(f)
	executorCmd.GroupID = "cluster"
	cmd.AddCommand(
		appCmd,
		sessionCmd,
		taskCmd,
		cache.NewCmdCache(f),
		clusterCmd,
		nodeCmd,
		executorCmd,
		serveCmd,
		ctxCmd,
		version.NewCmdVersion(f, nil),
		completion.NewCmdCompletion(f),
	)
	addGroups(cmd)
	return cmd
}

// addGroups adds the groups of groupOrder that have a command.
func addGroups(cmd *cobra.Command) {
	used := map[string]bool{}
	for _, c := range cmd.Commands() {
		used[c.GroupID] = true
	}
	for _, g := range groupOrder() {
		if used[g.ID] {
			cmd.AddGroup(&g)
		}
	}
}

// applyEnv gives the envFlags of cmd the value of their FLAME_* variable
// unless they were set on the command line (flag > environment).
//
// Viper is confined to this function. It gets the environment as a map read
// through lookupEnv rather than from os.Getenv (it has no hook for that), so
// that the Factory stays the only door to the environment.
func applyEnv(cmd *cobra.Command, lookupEnv func(string) (string, bool)) error {
	env := map[string]any{}
	for _, name := range envFlags() {
		key := "FLAME_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v, ok := lookupEnv(key); ok && v != "" {
			env[name] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	v := viper.New()
	if err := v.MergeConfigMap(env); err != nil {
		return err
	}
	for _, name := range envFlags() {
		fl := cmd.Flags().Lookup(name)
		if fl == nil || fl.Changed || !v.IsSet(name) {
			continue
		}
		if err := fl.Value.Set(v.GetString(name)); err != nil {
			return cmdutil.FlagErrorf("FLAME_%s: %w", strings.ToUpper(name), err)
		}
	}
	return nil
}
