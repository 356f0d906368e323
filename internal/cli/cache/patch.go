package cache

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/cache"
)

// PatchOptions are the inputs of "flmctl cache patch".
type PatchOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Key    string
	Source string // a file, or "-" for stdin
	Raw    bool
	Format string // "" (key and version), json, yaml or name
}

// NewCmdPatch returns "flmctl cache patch". runF, when not nil, replaces the
// run function.
func NewCmdPatch(f *cmdutil.Factory, runF func(context.Context, *PatchOptions) error) *cobra.Command {
	opts := &PatchOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:   "patch <key> [<file>|-] [--raw]",
		Short: "Append a patch to a cache object",
		Long: `Append the bytes of a file, or of stdin ("-", or no file when stdin is not a
terminal), to the object as a patch, making a new version. The base is left
as it is: "flmctl cache get --patches" prints the base and its patches, which
the application combines as it defines.

Like put, the bytes are wrapped for flamepy unless --raw is given, and the
command prints the object's key and new version (see "flmctl cache put").`,
		Example: `  echo '{"step": 2}' | flmctl cache patch my-app/s1/state
  flmctl cache patch my-app/s1/state ./delta.bin --output json`,
		Args: rangeArgs(1, 2, "cache patch needs a key \"<app>/<session>/<object>\" (see \"flmctl cache list\")"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if err := keyArg(cache.ParseKey, opts.Key); err != nil {
				return err
			}
			var err error
			if opts.Source, err = inputArg(opts.IO, args, 1, "cache patch"); err != nil {
				return err
			}
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return patchRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Raw, "raw", false, "store the bytes as they are, without flamepy's bytes wrapping")
	enableRefOutput(cmd)
	return cmd
}

func patchRun(ctx context.Context, opts *PatchOptions) error {
	return store(ctx, opts.IO, opts.Cache, opts.Source, opts.Raw, opts.Format,
		func(c *cache.Client, data []byte, po ...cache.PutOption) (cache.ObjectRef, error) {
			return c.Patch(ctx, cache.ObjectRef{Endpoint: c.Endpoint(), Key: opts.Key}, data, po...)
		})
}
