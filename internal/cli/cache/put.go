package cache

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/cache"
)

// PutOptions are the inputs of "flmctl cache put".
type PutOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Key    string // a prefix or a full key
	Source string // a file, or "-" for stdin
	Raw    bool
	Format string // "" (key and version), json, yaml or name
}

// NewCmdPut returns "flmctl cache put". runF, when not nil, replaces the run
// function.
func NewCmdPut(f *cmdutil.Factory, runF func(context.Context, *PutOptions) error) *cobra.Command {
	opts := &PutOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:   "put <prefix|key> [<file>|-] [--raw]",
		Short: "Store data as a cache object",
		Long: `Store the bytes of a file, or of stdin ("-", or no file when stdin is not a
terminal), as one object. Under a prefix "<app>/<session>" the cache picks a
new object id; at a full key "<app>/<session>/<object>" the object there is
replaced.

By default the bytes are wrapped the way flamepy stores a Python bytes object
(a few bytes more), so that get_object in Python returns them as bytes; --raw
stores them exactly as given, as upload does, for readers that are not Python.
"flmctl cache get" reads both.

Prints the object's key and version ("my-app/s1/3f2a... 1"; the version is the
last field, since keys may hold spaces), the key alone with --output name, or
the whole reference {endpoint, key, version} with --output json or yaml.
The whole input is held in memory: for large files use "flmctl cache upload".`,
		Example: `  echo hello | flmctl cache put my-app/s1
  flmctl cache put my-app/s1/config ./config.json
  key=$(flmctl cache put my-app/s1 ./input.bin --output name)
  flmctl cache put my-app/s1/blob ./blob.bin --raw --output json`,
		Args: rangeArgs(1, 2, "cache put needs a prefix \"<app>/<session>\" or a key \"<app>/<session>/<object>\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if err := keyArg(cache.ParseKeyOrPrefix, opts.Key); err != nil {
				return err
			}
			var err error
			if opts.Source, err = inputArg(opts.IO, args, 1, "cache put"); err != nil {
				return err
			}
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return putRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Raw, "raw", false, "store the bytes as they are, without flamepy's bytes wrapping")
	enableRefOutput(cmd)
	return cmd
}

func putRun(ctx context.Context, opts *PutOptions) error {
	return store(ctx, opts.IO, opts.Cache, opts.Source, opts.Raw, opts.Format,
		func(c *cache.Client, data []byte, po ...cache.PutOption) (cache.ObjectRef, error) {
			return c.Put(ctx, opts.Key, data, po...)
		})
}

// store reads the input of put or patch, writes it with write (wrapped for
// flamepy unless raw) and prints the new reference.
func store(ctx context.Context, io *iostreams.IOStreams, cacheFn func() (*cache.Client, error), source string, raw bool, format string,
	write func(c *cache.Client, data []byte, po ...cache.PutOption) (cache.ObjectRef, error)) error {
	data, err := readInput(io, source)
	if err != nil {
		return err
	}
	c, err := cacheFn()
	if err != nil {
		return err
	}
	var po []cache.PutOption
	if raw {
		po = append(po, cache.Raw())
	}
	ref, err := write(c, data, po...)
	if err != nil {
		return err
	}
	return printRef(io, format, ref)
}
