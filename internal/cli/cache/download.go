package cache

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/cache"
)

// DownloadOptions are the inputs of "flmctl cache download".
type DownloadOptions struct {
	IO    *iostreams.IOStreams
	Cache func() (*cache.Client, error)

	Key  string
	Dest string // a file, or "-" for stdout
}

// NewCmdDownload returns "flmctl cache download". runF, when not nil,
// replaces the run function.
func NewCmdDownload(f *cmdutil.Factory, runF func(context.Context, *DownloadOptions) error) *cobra.Command {
	opts := &DownloadOptions{IO: f.IOStreams, Cache: f.Cache}
	cmd := &cobra.Command{
		Use:   "download <key> {<file>|-}",
		Short: "Download a cache object into a file",
		Long: `Write the object, as stored, into a file or to stdout ("-"), streaming it
chunk by chunk. A file is written through a temporary file beside it that
replaces it only once complete, so a failed download leaves no partial file.
Objects with patches cannot be downloaded: read them with "flmctl cache get
--patches".

A progress bar is drawn on stderr when stderr is a terminal (and stdout is not
one receiving the data).`,
		Example: `  flmctl cache download my-app/s1/model ./model.bin
  flmctl cache download my-app/s1/data.tar - | tar x`,
		Args: cmdutil.ExactArgs(2, "cache download needs a key \"<app>/<session>/<object>\" and a destination file (- for stdout)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key, opts.Dest = args[0], args[1]
			if err := keyArg(cache.ParseKey, opts.Key); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return downloadRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func downloadRun(ctx context.Context, opts *DownloadOptions) error {
	c, err := opts.Cache()
	if err != nil {
		return err
	}
	ref := cache.ObjectRef{Endpoint: c.Endpoint(), Key: opts.Key}
	var to []cache.TransferOption
	if opts.IO.IsStderrTTY() && !(opts.Dest == "-" && opts.IO.IsStdoutTTY()) {
		// The download does not know the size; the listing does. Without it
		// the bar shows bytes and rate only.
		total := int64(-1)
		if infos, err := c.List(ctx, opts.Key); err == nil {
			for _, in := range infos {
				if in.Ref.Key == opts.Key {
					total = in.Size
				}
			}
		}
		bar := newProgressBar(opts.IO.ErrOut, "Downloading "+opts.Key, opts.IO.TerminalWidth(), nil)
		defer bar.finish()
		to = append(to, cache.WithProgress(func(done, _ int64) { bar.update(done, total) }))
	}
	if opts.Dest == "-" {
		_, err = c.DownloadTo(ctx, ref, opts.IO.Out, to...)
	} else {
		_, err = c.Download(ctx, ref, opts.Dest, to...)
	}
	return err
}
