package session

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// ListOptions are the inputs of "flmctl session list".
type ListOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	Application string
	State       string // "", "open" or "closed"
	Format      string
	NoHeaders   bool
}

// NewCmdList returns "flmctl session list". runF, when not nil, replaces the
// run function.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List sessions",
		Long: `List the sessions the cluster keeps, open and closed, with the number of
their tasks in each state.`,
		Example: `  flmctl session list
  flmctl session list --app flmping --state open
  flmctl session list --output name`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Application, "app", "", "list only the sessions of this `application`")
	_ = cmd.RegisterFlagCompletionFunc("app", completeApplications(f))
	cmdutil.StringEnumFlag(cmd, &opts.State, "state", "", "", []string{"open", "closed"}, "list only sessions in this `state`")
	cmdutil.EnableListOutput(cmd, &opts.NoHeaders)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	sessions, err := conn.ListSessions(ctx)
	if err != nil {
		return err
	}
	l := newList()
	for _, s := range sessions {
		if opts.Application != "" && s.Application() != opts.Application {
			continue
		}
		if opts.State != "" && !strings.EqualFold(s.State().String(), opts.State) {
			continue
		}
		l.Items = append(l.Items, item(s))
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, "no sessions found; create one with \"flmctl session create APP\"")
}

func newList() *printers.List {
	return &printers.List{
		Kind: "session",
		Columns: []printers.Column{
			{Header: "id"}, {Header: "app"}, {Header: "state"},
			{Header: "pending"}, {Header: "running"}, {Header: "succeed"}, {Header: "failed"}, {Header: "cancelled"},
			{Header: "created"},
			{Header: "min", Wide: true}, {Header: "max", Wide: true}, {Header: "priority", Wide: true}, {Header: "resreq", Wide: true},
		},
	}
}

func item(s *client.Session) printers.Item {
	c := s.Counts()
	spec := s.Spec()
	return printers.Item{
		Name: s.ID(),
		Cells: []any{s.ID(), s.Application(), s.State().String(),
			c.Pending, c.Running, c.Succeed, c.Failed, c.Cancelled,
			s.CreationTime(),
			spec.MinInstances, maxString(spec.MaxInstances), spec.Priority, resreqString(spec.ResReq)},
		Object: s.Proto(),
	}
}

func maxString(m *uint32) string {
	if m == nil {
		return "unlimited"
	}
	return formatUint(*m)
}

func resreqString(r *client.ResourceRequirement) string {
	if r == nil {
		return ""
	}
	return r.String()
}
