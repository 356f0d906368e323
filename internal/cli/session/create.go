package session

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// CreateOptions are the inputs of "flmctl session create".
type CreateOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Application string
	Spec        specFlags
}

// NewCmdCreate returns "flmctl session create". runF, when not nil, replaces
// the run function.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "create <application>",
		Short: "Create a session of an application",
		Long: `Create a session of the application and print its id on stdout. The id is
--id, or the application name followed by 6 random characters.`,
		Example: `  flmctl session create flmping
  SID=$(flmctl session create echo --common-data @config.json)
  flmctl session create flmexec \
    --id build-42 \
    --min 1 \
    --resreq cpu=1,mem=1g`,
		Args:              cmdutil.ExactArgs(1, "session create needs the name of an application (see \"flmctl app list\")"),
		ValidArgsFunction: cmdutil.CompleteFirstArg(completeApplications(f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Application = args[0]
			if err := opts.Spec.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	opts.Spec.add(cmd, true)
	return cmd
}

func createRun(ctx context.Context, opts *CreateOptions) error {
	attrs, err := opts.Spec.attributes(opts.Application, opts.IO.In)
	if err != nil {
		return err
	}
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	s, err := conn.CreateSession(ctx, attrs)
	if err != nil {
		return withAppHint(err, opts.Application)
	}
	_, err = fmt.Fprintln(opts.IO.Out, s.ID())
	return err
}
