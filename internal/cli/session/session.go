// Package session implements "flmctl session": create, open, close, get,
// list and delete sessions of a Flame cluster.
package session

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/client"
)

// completionTimeout bounds the server queries of shell completion, so that a
// slow or missing cluster never stalls the shell.
const completionTimeout = time.Second

// NewCmdSession returns "flmctl session" with its subcommands.
func NewCmdSession(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "session <command>",
		Short: "Create, inspect and close sessions",
		Long: `A session binds tasks to an application: its instances run the session's
tasks, sharing the session's common data.`,
		Example: `  flmctl session create flmping
  flmctl session list --state open
  flmctl session close flmping-a1b2c3 --wait`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdCreate(f, nil),
		NewCmdOpen(f, nil),
		NewCmdClose(f, nil),
		NewCmdGet(f, nil),
		NewCmdList(f, nil),
		NewCmdDelete(f, nil),
	)
	return cmd
}

// CompleteSessionIDs completes session ids from the cluster of f, giving up
// silently after a second.
func CompleteSessionIDs(f *cmdutil.Factory) cobra.CompletionFunc {
	return cmdutil.CompleteFirstArg(func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmdContext(cmd), completionTimeout)
		defer cancel()
		conn, err := f.Client(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		sessions, err := conn.ListSessions(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var ids []string
		for _, s := range sessions {
			if strings.HasPrefix(s.ID(), toComplete) {
				ids = append(ids, s.ID())
			}
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	})
}

// completeApplications completes application names from the cluster of f.
func completeApplications(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmdContext(cmd), completionTimeout)
		defer cancel()
		conn, err := f.Client(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		apps, err := conn.ListApplications(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, a := range apps {
			if strings.HasPrefix(a.Name, toComplete) {
				names = append(names, a.Name)
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func cmdContext(cmd *cobra.Command) context.Context {
	if cmd != nil && cmd.Context() != nil {
		return cmd.Context()
	}
	return context.Background()
}

// specFlags are the flags that describe a new session.
type specFlags struct {
	ID         string
	Min        uint32
	Max        int64 // -1 means unlimited
	Priority   uint32
	ResReq     string
	CommonData string // @file, - for stdin, or the text itself
}

func (s *specFlags) add(cmd *cobra.Command, withID bool) {
	fs := cmd.Flags()
	if withID {
		fs.StringVar(&s.ID, "id", "", "session `id` (default: the application name and 6 random characters)")
	}
	fs.Uint32Var(&s.Min, "min", 0, "minimum `number` of instances kept for the session")
	fs.Int64Var(&s.Max, "max", -1, "maximum `number` of instances, -1 for unlimited")
	fs.Uint32Var(&s.Priority, "priority", 0, "scheduling `priority`, 0 is the lowest")
	fs.StringVar(&s.ResReq, "resreq", "", "resources of each instance, e.g. `cpu=1,mem=1g` (default: the cluster's)")
	fs.StringVar(&s.CommonData, "common-data", "", "data shared by all tasks: `@file`, - for stdin, or the text itself")
}

// validate checks the flags that need no I/O.
func (s *specFlags) validate() error {
	if s.Max < -1 || s.Max > int64(^uint32(0)) {
		return cmdutil.FlagErrorf("invalid --max %d: give a number of instances, or -1 for unlimited", s.Max)
	}
	if s.Max >= 0 && uint32(s.Max) < s.Min {
		return cmdutil.FlagErrorf("--max %d is less than --min %d", s.Max, s.Min)
	}
	if s.ResReq != "" {
		if _, err := client.ParseResourceRequirement(s.ResReq); err != nil {
			return cmdutil.FlagErrorf("--resreq: %w", err)
		}
	}
	return nil
}

// attributes builds the session attributes, reading the common data.
func (s *specFlags) attributes(app string, stdin io.Reader) (client.SessionAttributes, error) {
	a := client.SessionAttributes{Application: app, ID: s.ID, MinInstances: s.Min, Priority: s.Priority}
	if s.Max >= 0 {
		a.MaxInstances = new(uint32(s.Max))
	}
	if s.ResReq != "" {
		r, err := client.ParseResourceRequirement(s.ResReq)
		if err != nil {
			return a, cmdutil.FlagErrorf("--resreq: %w", err)
		}
		a.ResReq = &r
	}
	if s.CommonData != "" {
		data, err := readData(s.CommonData, stdin)
		if err != nil {
			return a, fmt.Errorf("--common-data: %w", err)
		}
		a.CommonData = data
	}
	return a, nil
}

// readData reads "@file", "-" (stdin) or returns the text itself.
func readData(v string, stdin io.Reader) ([]byte, error) {
	switch {
	case v == "-":
		return io.ReadAll(stdin)
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", v[1:], err)
		}
		return b, nil
	default:
		return []byte(v), nil
	}
}
