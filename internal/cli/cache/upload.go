package cache

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/cache"
)

// UploadOptions are the inputs of "flmctl cache upload".
type UploadOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Key    string // a prefix or a full key
	Source string // a file, or "-" for stdin
	Format string // "" (key and version), json, yaml or name
}

// NewCmdUpload returns "flmctl cache upload". runF, when not nil, replaces
// the run function.
func NewCmdUpload(f *cmdutil.Factory, runF func(context.Context, *UploadOptions) error) *cobra.Command {
	opts := &UploadOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:   "upload <prefix|key> {<file>|-}",
		Short: "Upload a file as a cache object",
		Long: `Upload a file, or stdin ("-"), as one object, streaming it in 1 MiB chunks so
that files of any size fit. The bytes are stored as they are (no flamepy
wrapping, like flamepy's upload_object); "flmctl cache download" reads them
back. Prefix and key work as for "flmctl cache put", and so does the output.

A progress bar is drawn on stderr when stderr is a terminal.`,
		Example: `  flmctl cache upload my-app/s1 ./dataset.parquet
  tar c ./data | flmctl cache upload my-app/s1/data.tar - --output json`,
		Args: cmdutil.ExactArgs(2, "cache upload needs a prefix \"<app>/<session>\" or a key \"<app>/<session>/<object>\", and a file (- for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key, opts.Source = args[0], args[1]
			if err := keyArg(cache.ParseKeyOrPrefix, opts.Key); err != nil {
				return err
			}
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return uploadRun(cmd.Context(), opts)
		},
	}
	enableRefOutput(cmd)
	return cmd
}

func uploadRun(ctx context.Context, opts *UploadOptions) error {
	c, err := opts.Cache()
	if err != nil {
		return err
	}
	var to []cache.TransferOption
	if opts.IO.IsStderrTTY() {
		label := "Uploading " + opts.Source
		if opts.Source == "-" {
			label = "Uploading stdin"
		}
		bar := newProgressBar(opts.IO.ErrOut, label, opts.IO.TerminalWidth(), nil)
		defer bar.finish()
		to = append(to, cache.WithProgress(bar.update))
	}
	var ref cache.ObjectRef
	if opts.Source == "-" {
		ref, err = c.UploadFrom(ctx, opts.Key, opts.IO.In, inputSize(opts.IO), to...)
	} else {
		ref, err = c.Upload(ctx, opts.Key, opts.Source, to...)
	}
	if err != nil {
		return err
	}
	return printRef(opts.IO, opts.Format, ref)
}

// inputSize returns the size of stdin when it is a regular file (a
// redirection), else -1.
func inputSize(ios *iostreams.IOStreams) int64 {
	if f, ok := ios.In.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}
