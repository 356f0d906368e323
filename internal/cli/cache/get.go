package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/client"
)

// GetOptions are the inputs of "flmctl cache get".
type GetOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Key     string
	Version int64  // 0: any; else the version the object must be at
	File    string // "" means stdout
	Patches bool
	Format  string // "" (bytes as they are), json or yaml
}

// NewCmdGet returns "flmctl cache get". runF, when not nil, replaces the run
// function.
func NewCmdGet(f *cmdutil.Factory, runF func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:   "get <key> [--file <path>] [--patches]",
		Short: "Print a cache object",
		Long: `Print the base of the object to stdout, or write it to --file (through a
temporary file that replaces it once complete).

Bytes, and Python bytes and str objects stored by flamepy, are printed as
they are. An object holding another Python value (a dict, list, int...) is
printed as indented JSON instead: dict keys become strings, bytes inside it
become base64 strings, and non-finite floats the strings "NaN", "Infinity"
and "-Infinity". --output json or yaml prints any object that way, bytes
included (as one base64 string).

--patches prints the base and the patches appended to it, in version order,
as one document {"key", "base", "patches": [...]} with each part a base64
string: JSON by default, YAML with --output yaml.

The cache keeps only the latest version of an object; --version N fails
unless the object is at version N, so scripts can notice a change.`,
		Example: `  flmctl cache get my-app/s1/greeting
  flmctl cache get my-app/s1/model --file model.bin
  flmctl cache get my-app/s1/state --patches --output yaml
  flmctl cache get my-app/s1/config --version 3`,
		Args: cmdutil.ExactArgs(1, "cache get needs a key \"<app>/<session>/<object>\" (see \"flmctl cache list\")"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if err := keyArg(cache.ParseKey, opts.Key); err != nil {
				return err
			}
			if opts.Version < 0 {
				return cmdutil.FlagErrorf("invalid --version %d: versions start at 1", opts.Version)
			}
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if opts.Patches && opts.Format == "" {
				opts.Format = printers.FormatJSON
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().Int64Var(&opts.Version, "version", 0, "fail unless the object is at this `version`")
	cmd.Flags().StringVarP(&opts.File, "file", "f", "", "write to this `path` instead of stdout")
	cmd.Flags().BoolVar(&opts.Patches, "patches", false, "print the base and each patch as base64 in a JSON or YAML document")
	cmdutil.EnableOutput(cmd, "", printers.FormatJSON, printers.FormatYAML)
	return cmd
}

// partsJSON is what --patches prints.
type partsJSON struct {
	Key     string   `json:"key"`
	Base    []byte   `json:"base"`
	Patches [][]byte `json:"patches"`
}

func getRun(ctx context.Context, opts *GetOptions) error {
	c, err := opts.Cache()
	if err != nil {
		return err
	}
	if opts.Version != 0 {
		if err := checkVersion(ctx, c, opts.Key, opts.Version); err != nil {
			return err
		}
	}
	ref := cache.ObjectRef{Endpoint: c.Endpoint(), Key: opts.Key}
	var out []byte
	if opts.Patches {
		base, patches, err := c.GetParts(ctx, ref)
		if err != nil {
			return err
		}
		if patches == nil {
			patches = [][]byte{}
		}
		if out, err = marshal(opts.Format, partsJSON{Key: opts.Key, Base: base, Patches: patches}); err != nil {
			return err
		}
	} else {
		v, err := c.GetValue(ctx, ref)
		if err != nil {
			return err
		}
		if out, err = render(opts.Format, v); err != nil {
			return fmt.Errorf("print %s: %w", opts.Key, err)
		}
	}
	if opts.File != "" {
		return writeFileAtomic(opts.File, out)
	}
	_, err = opts.IO.Out.Write(out)
	return err
}

// checkVersion fails unless key is at version want.
func checkVersion(ctx context.Context, c *cache.Client, key string, want int64) error {
	infos, err := c.List(ctx, key)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if in.Ref.Key != key {
			continue
		}
		if in.Ref.Version != want {
			return fmt.Errorf("object %s is at version %d, not %d (the cache keeps only the latest version)", key, in.Ref.Version, want)
		}
		return nil
	}
	return client.NewError(client.CodeNotFound, fmt.Sprintf("get %s: object not found", key), nil)
}

// render returns what get prints for the value v of an object: bytes and
// strings as they are without a format, anything else as JSON or YAML.
func render(format string, v any) ([]byte, error) {
	if format == "" {
		switch v := v.(type) {
		case []byte:
			return v, nil
		case string:
			return []byte(v), nil
		}
		format = printers.FormatJSON
	}
	return marshal(format, v)
}

func marshal(format string, v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := printers.WriteStructured(&buf, format, jsonValue(v)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// jsonValue converts a value of cache.GetValue to one encoding/json takes:
// map[any]any becomes map[string]any, non-finite floats strings. []byte
// stays (encoding/json writes base64) and *big.Int too (a JSON number).
func jsonValue(v any) any {
	switch v := v.(type) {
	case float64:
		switch {
		case math.IsNaN(v):
			return "NaN"
		case math.IsInf(v, 1):
			return "Infinity"
		case math.IsInf(v, -1):
			return "-Infinity"
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[keyString(k)] = jsonValue(e)
		}
		return out
	}
	return v
}

// keyString turns a dict key into a JSON object key: strings as they are,
// anything else as its JSON text (1 -> "1", None -> "null").
func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case []byte:
		return string(k)
	case *big.Int:
		return k.String()
	}
	b, err := json.Marshal(jsonValue(k))
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}
