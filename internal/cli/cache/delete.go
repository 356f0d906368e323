package cache

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/cache"
)

// DeleteOptions are the inputs of "flmctl cache delete".
type DeleteOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Pattern string // a key, a prefix or "<app>/*"
	Yes     bool
}

// NewCmdDelete returns "flmctl cache delete". runF, when not nil, replaces
// the run function.
func NewCmdDelete(f *cmdutil.Factory, runF func(context.Context, *DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:     "delete {<key>|<prefix>|<app>/*} [--yes]",
		Aliases: []string{"rm"},
		Short:   "Delete cache objects",
		Long: `Delete one object ("<app>/<session>/<object>"), every object of a session
("<app>/<session>"), or every object of an application ("<app>/*"; quote it
for the shell). Deleting nothing succeeds. On a terminal it asks first;
elsewhere --yes is required.`,
		Example: `  flmctl cache delete my-app/s1/greeting
  flmctl cache delete my-app/s1 --yes
  flmctl cache delete 'my-app/*' --yes`,
		Args: cmdutil.ExactArgs(1, "cache delete needs a key \"<app>/<session>/<object>\", a prefix \"<app>/<session>\" or \"<app>/*\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Pattern = args[0]
			if err := keyArg(cache.ParsePattern, opts.Pattern); err != nil {
				return err
			}
			if !opts.Yes && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("--yes is required to delete %q when not running interactively", opts.Pattern)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking for confirmation")
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	k, err := cache.ParsePattern(opts.Pattern)
	if err != nil {
		return cmdutil.FlagErrorWrap(err)
	}
	var what string
	switch {
	case k.IsWildcard():
		what = fmt.Sprintf("every cache object of application %q", k.App)
	case k.IsPrefix():
		what = fmt.Sprintf("every cache object under %q", k.String())
	default:
		what = fmt.Sprintf("cache object %q", k.String())
	}
	c, err := opts.Cache()
	if err != nil {
		return err
	}
	if !opts.Yes {
		ok, err := opts.IO.Confirm("Delete " + what + "?")
		if err != nil {
			return err
		}
		if !ok {
			return cmdutil.ErrCancel
		}
	}
	if err := c.Delete(ctx, opts.Pattern); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Deleted %s.\n", what)
	return nil
}
