package context

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// CurrentOptions are the inputs of "flmctl context current".
type CurrentOptions struct {
	IO         *iostreams.IOStreams
	ConfigPath func() (string, error)
}

// NewCmdCurrent returns "flmctl context current". runF, when not nil,
// replaces the run function.
func NewCmdCurrent(f *cmdutil.Factory, runF func(*CurrentOptions) error) *cobra.Command {
	opts := &CurrentOptions{IO: f.IOStreams, ConfigPath: f.ConfigPath}
	return &cobra.Command{
		Use:   "current",
		Short: "Print the name of the current context",
		Long: `Print the file's current-context. It fails when none is set or when it names a
context the file does not have. --context and FLAME_CONTEXT do not change
what it prints; "flmctl context view" shows the context a command would use.`,
		Example: `  flmctl context current`,
		Args:    cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return currentRun(opts)
		},
	}
}

func currentRun(opts *CurrentOptions) error {
	file, err := loadFile(opts.ConfigPath)
	if err != nil {
		return err
	}
	if len(file.Contexts) == 0 {
		return fmt.Errorf("no current context: %s has no contexts; add one with %q", file.Path, setHint)
	}
	c, err := file.Current()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(opts.IO.Out, c.Name)
	return err
}
