package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// OpenOptions are the inputs of "flmctl session open".
type OpenOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	ID          string
	Application string // "" only gets an existing session
	Spec        specFlags
}

// NewCmdOpen returns "flmctl session open". runF, when not nil, replaces the
// run function.
func NewCmdOpen(f *cmdutil.Factory, runF func(context.Context, *OpenOptions) error) *cobra.Command {
	opts := &OpenOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "open <session-id> [--app <name>]",
		Short: "Get an open session, creating it if needed",
		Long: `Open the session: with --app, create it if it does not exist yet, with the
given flags; without --app it must exist. An existing session must be open and,
when --app is given, have the same spec. Prints the session id on stdout, so
scripts can run it again safely.`,
		Example: `  flmctl session open nightly-build --app flmexec
  flmctl session open nightly-build`,
		Args:              cmdutil.ExactArgs(1, "session open needs a session id"),
		ValidArgsFunction: CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if err := opts.Spec.validate(); err != nil {
				return err
			}
			if opts.Application == "" {
				for _, name := range []string{"min", "max", "priority", "resreq", "common-data"} {
					if cmd.Flags().Changed(name) {
						return cmdutil.FlagErrorf("--%s describes a new session and needs --app", name)
					}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return openRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Application, "app", "", "create the session of this `application` if it does not exist")
	_ = cmd.RegisterFlagCompletionFunc("app", completeApplications(f))
	opts.Spec.add(cmd, false)
	return cmd
}

func openRun(ctx context.Context, opts *OpenOptions) error {
	var spec *client.SessionAttributes
	if opts.Application != "" {
		attrs, err := opts.Spec.attributes(opts.Application, opts.IO.In)
		if err != nil {
			return err
		}
		spec = &attrs
	}
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	s, err := conn.OpenSession(ctx, opts.ID, spec)
	if err != nil {
		if spec == nil && errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("%w; give --app NAME to create it", err)
		}
		if spec != nil {
			return withAppHint(err, opts.Application)
		}
		return err
	}
	_, err = fmt.Fprintln(opts.IO.Out, s.ID())
	return err
}

// withAppHint adds a remedy to a not-found error of an application, unless
// the server gave one.
func withAppHint(err error, app string) error {
	if errors.Is(err, client.ErrNotFound) && !strings.Contains(err.Error(), "flmctl app") {
		return fmt.Errorf("%w; is application %q registered? (see \"flmctl app list\")", err, app)
	}
	return err
}
