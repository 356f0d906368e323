package context

import (
	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// ViewOptions are the inputs of "flmctl context view".
type ViewOptions struct {
	IO      *iostreams.IOStreams
	Resolve func(name string) (*contexts.Resolved, error)

	Name   string // "" means the context commands would use
	Format string
}

// resolvedView is the -o json|yaml shape of a contexts.Resolved. Empty
// settings are printed too, so the output always has the same keys.
type resolvedView struct {
	Context         string   `json:"context"`
	ConfigFile      string   `json:"config_file"`
	Endpoint        string   `json:"endpoint"`
	CAFile          string   `json:"ca_file"`
	CacheEndpoint   string   `json:"cache_endpoint"`
	CacheCAFile     string   `json:"cache_ca_file"`
	CacheStorage    string   `json:"cache_storage"`
	PackageStorage  string   `json:"package_storage"`
	PackageExcludes []string `json:"package_excludes"`
	RunnerTemplate  string   `json:"runner_template"`
}

// NewCmdView returns "flmctl context view". runF, when not nil, replaces the
// run function.
func NewCmdView(f *cmdutil.Factory, runF func(*ViewOptions) error) *cobra.Command {
	opts := &ViewOptions{
		IO: f.IOStreams,
		Resolve: func(name string) (*contexts.Resolved, error) {
			return contexts.Resolve(f.ContextOptions(name))
		},
	}
	cmd := &cobra.Command{
		Use:   "view [<name>]",
		Short: "Show the settings a context resolves to",
		Long: `Show the settings commands would use with the named context, or without a name
with the context they would pick: --context, else FLAME_CONTEXT, else the
file's current-context. The result includes --endpoint and the environment
overrides (FLAME_ENDPOINT, FLAME_CACHE_ENDPOINT, FLAME_CACHE_STORAGE,
FLAME_CA_FILE) and the built-in defaults, so it is exactly what a client
connects with. "context" is empty when no config file has contexts.`,
		Example: `  flmctl context view
  flmctl context view prod --output json`,
		Args:              cmdutil.MaximumNArgs(1),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = trimKind(args[0])
			}
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return viewRun(opts)
		},
	}
	cmdutil.EnableOutput(cmd, printers.FormatYAML, printers.FormatYAML, printers.FormatJSON)
	return cmd
}

func viewRun(opts *ViewOptions) error {
	r, err := opts.Resolve(opts.Name)
	if err != nil {
		return err
	}
	excludes := r.PackageExcludes
	if excludes == nil {
		excludes = []string{}
	}
	return printers.WriteStructured(opts.IO.Out, opts.Format, resolvedView{
		Context:         r.Name,
		ConfigFile:      r.ConfigFile,
		Endpoint:        r.Endpoint,
		CAFile:          r.CAFile,
		CacheEndpoint:   r.CacheEndpoint,
		CacheCAFile:     r.CacheCAFile,
		CacheStorage:    r.CacheStorage,
		PackageStorage:  r.PackageStorage,
		PackageExcludes: excludes,
		RunnerTemplate:  r.RunnerTemplate,
	})
}
