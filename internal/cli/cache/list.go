package cache

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/cache"
)

// ListOptions are the inputs of "flmctl cache list".
type ListOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Pattern   string // "" for all, a key, a prefix or "<app>/*"
	Format    string
	NoHeaders bool
}

// NewCmdList returns "flmctl cache list". runF, when not nil, replaces the
// run function.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:     "list [{<prefix>|<app>/*|<key>}]",
		Aliases: []string{"ls"},
		Short:   "List cache objects",
		Long: `List the objects of the cache, sorted by key, or only those under a prefix
"<app>/<session>", of an application ("<app>/*"; quote it for the shell), or
one key. SIZE counts the base and its patches as stored: human units on a
terminal, bytes otherwise. --output name prints the keys alone, one a line;
--output json or yaml prints {endpoint, key, version, size} per object.`,
		Example: `  flmctl cache list
  flmctl cache list 'my-app/*'
  flmctl cache list my-app/s1 --output json`,
		Args: cmdutil.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Pattern = args[0]
				if err := keyArg(cache.ParsePattern, opts.Pattern); err != nil {
					return err
				}
			}
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
	cmdutil.EnableListOutput(cmd, &opts.NoHeaders)
	return cmd
}

// objectJSON is one object as -o json|yaml prints it; size is null when the
// server does not say.
type objectJSON struct {
	Endpoint string `json:"endpoint"`
	Key      string `json:"key"`
	Version  int64  `json:"version"`
	Size     *int64 `json:"size"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	c, err := opts.Cache()
	if err != nil {
		return err
	}
	infos, err := c.List(ctx, opts.Pattern)
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Ref.Key < infos[j].Ref.Key })
	tty := opts.IO.IsStdoutTTY()
	l := &printers.List{Columns: []printers.Column{{Header: "key"}, {Header: "version"}, {Header: "size"}}}
	for _, in := range infos {
		obj := objectJSON{Endpoint: in.Ref.Endpoint, Key: in.Ref.Key, Version: in.Ref.Version}
		var size any = "-"
		if in.Size >= 0 {
			obj.Size = &in.Size
			size = in.Size
			if tty {
				size = humanSize(in.Size)
			}
		}
		l.Items = append(l.Items, printers.Item{Name: in.Ref.Key, Cells: []any{in.Ref.Key, in.Ref.Version, size}, Object: obj})
	}
	empty := "no objects in the cache"
	if opts.Pattern != "" {
		empty = fmt.Sprintf("no cache objects match %q", opts.Pattern)
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, empty)
}
