package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// UpdateOptions are the inputs of "flmctl app update" and "flmctl app apply".
type UpdateOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	File  string
	Apply bool // register the applications that do not exist
}

// NewCmdUpdate returns "flmctl app update". runF, when not nil, replaces the
// run function.
func NewCmdUpdate(f *cmdutil.Factory, runF func(context.Context, *UpdateOptions) error) *cobra.Command {
	return newCmdUpdate(f, runF, false)
}

// NewCmdApply returns "flmctl app apply". runF, when not nil, replaces the run
// function.
func NewCmdApply(f *cmdutil.Factory, runF func(context.Context, *UpdateOptions) error) *cobra.Command {
	return newCmdUpdate(f, runF, true)
}

func newCmdUpdate(f *cmdutil.Factory, runF func(context.Context, *UpdateOptions) error, apply bool) *cobra.Command {
	opts := &UpdateOptions{IO: f.IOStreams, Client: f.Client, Apply: apply}
	cmd := &cobra.Command{
		Use:   "update --file <file>",
		Short: "Replace the spec of registered applications",
		Long: `Replace the whole spec of each application of the YAML file (--file -
reads stdin). The applications must exist; "flmctl app apply" also
registers the ones that do not.`,
		Example: `  flmctl app update --file echo.yaml`,
	}
	if apply {
		cmd.Use = "apply --file <file>"
		cmd.Short = "Register or update applications from a file"
		cmd.Long = `Make the cluster's applications match the YAML file (--file - reads stdin):
register the ones that do not exist and replace the spec of the others.`
		cmd.Example = `  flmctl app apply --file apps.yaml
  flmctl app get echo --output yaml | flmctl app apply --file -`
	}
	cmd.Args = cmdutil.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if opts.File == "" {
			return cmdutil.FlagErrorf("%s needs --file FILE", cmd.CommandPath())
		}
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return updateRun(cmd.Context(), opts)
	}
	cmd.Flags().StringVarP(&opts.File, "file", "f", "", "the YAML `file` of the applications (- for stdin)")
	return cmd
}

func updateRun(ctx context.Context, opts *UpdateOptions) error {
	manifests, err := readManifests(opts.IO, opts.File)
	if err != nil {
		return err
	}
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	for _, m := range manifests {
		name := m.Metadata.Name
		attrs, err := m.Spec.attributes()
		if err != nil {
			return fmt.Errorf("application %q: %w", name, err)
		}
		verb := "updated"
		_, err = conn.GetApplication(ctx, name)
		switch {
		case err == nil:
			err = conn.UpdateApplication(ctx, name, attrs)
		case errors.Is(err, client.ErrNotFound) && opts.Apply:
			verb = "registered"
			err = conn.RegisterApplication(ctx, name, attrs)
		case errors.Is(err, client.ErrNotFound):
			err = fmt.Errorf("%w; register it with \"flmctl app register\" or use \"flmctl app apply\"", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "Application %q %s.\n", name, verb)
	}
	return nil
}
