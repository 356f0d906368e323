package session

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/client"
)

// GetOptions are the inputs of "flmctl session get".
type GetOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)
	Now    func() time.Time // nil means time.Now

	ID     string
	Format string
}

// NewCmdGet returns "flmctl session get". runF, when not nil, replaces the
// run function.
func NewCmdGet(f *cmdutil.Factory, runF func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IOStreams, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "get <session-id>",
		Short: "Show a session",
		Long: `Show the session's spec, task counts and events. --output json or yaml prints
the session as the cluster sends it (protocol field names).`,
		Example: `  flmctl session get flmping-a1b2c3
  flmctl session get flmping-a1b2c3 --output json`,
		Args:              cmdutil.ExactArgs(1, "session get needs a session id (see \"flmctl session list\")"),
		ValidArgsFunction: CompleteSessionIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmdutil.EnableOutput(cmd, printers.FormatTable, printers.AllowedFormats()...)
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	p, err := printers.New(opts.Format, printers.Options{TTY: opts.IO.IsStdoutTTY(), Now: opts.Now})
	if err != nil {
		return err
	}
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	s, err := conn.GetSession(ctx, opts.ID)
	if err != nil {
		return err
	}
	if p.Format() == printers.FormatTable || p.Format() == printers.FormatWide {
		return describe(opts, s)
	}
	l := newList()
	l.Items = []printers.Item{item(s)}
	return p.PrintOne(opts.IO.Out, l)
}

// describe prints the session for people: spec, counts and events.
func describe(opts *GetOptions, s *client.Session) error {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	tty := opts.IO.IsStdoutTTY()
	at := func(t time.Time) string { return printers.FormatTime(t, now(), tty) }
	spec := s.Spec()
	c := s.Counts()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", s.ID())
	row("Application", s.Application())
	row("State", s.State().String())
	row("Created", at(s.CreationTime()))
	row("Completed", at(s.CompletionTime()))
	row("Min instances", formatUint(spec.MinInstances))
	row("Max instances", maxString(spec.MaxInstances))
	row("Priority", formatUint(spec.Priority))
	if spec.ResReq != nil {
		row("Resources", spec.ResReq.String())
	}
	row("Common data", fmt.Sprintf("%d bytes", len(spec.CommonData)))
	row("Tasks", fmt.Sprintf("%d pending, %d running, %d succeed, %d failed, %d cancelled",
		c.Pending, c.Running, c.Succeed, c.Failed, c.Cancelled))
	if err := tw.Flush(); err != nil {
		return err
	}
	events := s.Events()
	if len(events) == 0 {
		b.WriteString("Events:        <none>\n")
	} else {
		b.WriteString("Events:\n")
		etw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
		fmt.Fprintln(etw, "  TIME\tCODE\tMESSAGE")
		for _, e := range events {
			fmt.Fprintf(etw, "  %s\t%d\t%s\n", at(e.CreationTime), e.Code, e.Message)
		}
		if err := etw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprint(opts.IO.Out, b.String())
	return err
}

func formatUint(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
