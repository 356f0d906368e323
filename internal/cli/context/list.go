package context

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// ListOptions are the inputs of "flmctl context list".
type ListOptions struct {
	IO         *iostreams.IOStreams
	ConfigPath func() (string, error)

	Format    string
	NoHeaders bool
}

// NewCmdList returns "flmctl context list". runF, when not nil, replaces the
// run function.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams, ConfigPath: f.ConfigPath}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the contexts of the config file",
		Long: `List the contexts of the config file. The CURRENT column marks the file's
current-context with "*".

With --output json or yaml, each context is printed as it is stored in
flame.yaml; --output name prints "context/NAME" per line.`,
		Example: `  flmctl context list
  flmctl context list --output wide
  flmctl context list --output name`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmdutil.EnableListOutput(cmd, &opts.NoHeaders)
	return cmd
}

func listRun(opts *ListOptions) error {
	file, err := loadFile(opts.ConfigPath)
	if err != nil {
		return err
	}
	l := &printers.List{
		Kind: "context",
		Columns: []printers.Column{
			{Header: "current"}, {Header: "name"}, {Header: "endpoint"}, {Header: "cache"},
			{Header: "ca file", Wide: true}, {Header: "cache storage", Wide: true},
		},
	}
	for _, c := range file.Contexts {
		obj, err := contextJSON(c)
		if err != nil {
			return err
		}
		current := ""
		if c.Name == file.CurrentContext {
			current = "*"
		}
		var cache, storage, caFile string
		if c.Cache != nil {
			cache, storage = c.Cache.Endpoint, c.Cache.Storage
		}
		if c.Cluster.TLS != nil {
			caFile = c.Cluster.TLS.CAFile
		}
		l.Items = append(l.Items, printers.Item{
			Name:   c.Name,
			Cells:  []any{current, c.Name, c.Cluster.Endpoint, cache, caFile, storage},
			Object: obj,
		})
	}
	return cmdutil.PrintList(opts.IO, opts.Format, opts.NoHeaders, l, fmt.Sprintf("no contexts in %s; add one with %q", file.Path, setHint))
}

// contextJSON returns c as JSON with the keys it has in flame.yaml, which are
// given by its yaml tags.
func contextJSON(c contexts.Context) (json.RawMessage, error) {
	y, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode context %q: %w", c.Name, err)
	}
	j, err := sigsyaml.YAMLToJSON(y)
	if err != nil {
		return nil, fmt.Errorf("encode context %q: %w", c.Name, err)
	}
	return j, nil
}
