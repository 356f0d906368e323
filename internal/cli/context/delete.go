package context

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// DeleteOptions are the inputs of "flmctl context delete".
type DeleteOptions struct {
	IO         *iostreams.IOStreams
	ConfigPath func() (string, error)

	Name string
	Yes  bool
}

// NewCmdDelete returns "flmctl context delete". runF, when not nil, replaces
// the run function.
func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IOStreams, ConfigPath: f.ConfigPath}
	cmd := &cobra.Command{
		Use:     "delete <name> [--yes]",
		Aliases: []string{"rm"},
		Short:   "Remove a context from the config file",
		Long: `Remove the named context from the config file. On a terminal it asks first;
elsewhere --yes is required. Deleting the current context leaves the file
without one: choose another with "flmctl context use".`,
		Example: `  flmctl context delete staging
  flmctl context delete staging --yes`,
		Args:              cmdutil.ExactArgs(1, "context delete needs the name of a context (see \"flmctl context list\")"),
		ValidArgsFunction: completeNames(f),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Name = trimKind(args[0])
			if !opts.Yes && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("--yes is required to delete context %q when not running interactively", opts.Name)
			}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking for confirmation")
	return cmd
}

func deleteRun(opts *DeleteOptions) error {
	file, err := loadExisting(opts.ConfigPath)
	if err != nil {
		return err
	}
	if _, err := file.Context(opts.Name); err != nil {
		return err
	}
	if !opts.Yes {
		ok, err := opts.IO.Confirm(fmt.Sprintf("Delete context %q from %s?", opts.Name, file.Path))
		if err != nil {
			return err
		}
		if !ok {
			return cmdutil.ErrCancel
		}
	}
	wasCurrent := file.CurrentContext == opts.Name
	if err := file.DeleteContext(opts.Name); err != nil {
		return err
	}
	if err := file.Save(); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Deleted context %q from %s.\n", opts.Name, file.Path)
	if wasCurrent {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %q was the current context; choose another with \"flmctl context use NAME\"\n", opts.Name)
	}
	return nil
}
