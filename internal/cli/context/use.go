package context

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// UseOptions are the inputs of "flmctl context use".
type UseOptions struct {
	IO         *iostreams.IOStreams
	ConfigPath func() (string, error)

	Name string
}

// NewCmdUse returns "flmctl context use". runF, when not nil, replaces the
// run function.
func NewCmdUse(f *cmdutil.Factory, runF func(*UseOptions) error) *cobra.Command {
	opts := &UseOptions{IO: f.IOStreams, ConfigPath: f.ConfigPath}
	return &cobra.Command{
		Use:   "use <name>",
		Short: "Make a context the current one",
		Long: `Set the file's current-context to the named context, which must exist. The rest
of the file, comments included, stays as it is. The confirmation goes to
stderr.`,
		Example:           `  flmctl context use local`,
		Args:              cmdutil.ExactArgs(1, "context use needs the name of a context (see \"flmctl context list\")"),
		ValidArgsFunction: completeNames(f),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Name = trimKind(args[0])
			if runF != nil {
				return runF(opts)
			}
			return useRun(opts)
		},
	}
}

func useRun(opts *UseOptions) error {
	file, err := loadExisting(opts.ConfigPath)
	if err != nil {
		return err
	}
	if err := file.UseContext(opts.Name); err != nil {
		return err
	}
	if err := file.Save(); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Switched to context %q.\n", opts.Name)
	return nil
}
