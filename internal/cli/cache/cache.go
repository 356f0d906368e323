// Package cache implements "flmctl cache": put, get, patch, upload,
// download, delete and list the objects of Flame's object cache.
package cache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	"github.com/flmctl/flmctl/pkg/cache"
)

// NewCmdCache returns "flmctl cache" with its subcommands.
func NewCmdCache(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache <command>",
		Short: "Store and read objects of the object cache",
		Long: `The object cache holds the data of sessions and tasks, such as common data and
large task outputs. An object's key is "<app>/<session>/<object>"; under a
prefix "<app>/<session>" the cache picks the object id. Each key holds one
object, its base and the patches appended to it; every write makes a new
version, and only the latest version is kept.

The cache is the one of the context: cache.endpoint in flame.yaml, or
FLAME_CACHE_ENDPOINT (see "flmctl context view").`,
		Example: `  echo hello | flmctl cache put my-app/s1 -
  flmctl cache get my-app/s1/greeting
  flmctl cache upload my-app/s1/model ./model.bin
  flmctl cache list my-app/s1`,
		// Set here rather than in root, where the other nouns set theirs.
		GroupID: "data",
		Args:    cmdutil.GroupArgs,
		RunE:    cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdPut(f, nil),
		NewCmdGet(f, nil),
		NewCmdPatch(f, nil),
		NewCmdUpload(f, nil),
		NewCmdDownload(f, nil),
		NewCmdDelete(f, nil),
		NewCmdList(f, nil),
	)
	return cmd
}

// rangeArgs accepts min to max positional arguments; fewer is a usage
// error with msg, more one naming the surplus.
func rangeArgs(low, high int, msg string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < low {
			return cmdutil.FlagErrorf("%s", msg)
		}
		return cmdutil.MaximumNArgs(high)(cmd, args)
	}
}

// keyArg validates a key argument with parse (cache.ParseKey and friends).
// A key that breaks a rule is a usage error quoting the rule.
func keyArg(parse func(string) (cache.ObjectKey, error), s string) error {
	if _, err := parse(s); err != nil {
		return cmdutil.FlagErrorWrap(err)
	}
	return nil
}

// refJSON is a reference as -o json|yaml prints it: the fields of
// cache.ObjectRef under the names flamepy's ObjectRef uses.
type refJSON struct {
	Endpoint string `json:"endpoint"`
	Key      string `json:"key"`
	Version  int64  `json:"version"`
}

// printRef prints the reference to a written object: "<key> <version>" by
// default (the key may hold spaces, the version is the last field), the key
// alone with -o name, the whole reference with -o json|yaml.
func printRef(ios *iostreams.IOStreams, format string, ref cache.ObjectRef) error {
	switch format {
	case printers.FormatJSON, printers.FormatYAML:
		return printers.WriteStructured(ios.Out, format, refJSON{Endpoint: ref.Endpoint, Key: ref.Key, Version: ref.Version})
	case printers.FormatName:
		_, err := fmt.Fprintln(ios.Out, ref.Key)
		return err
	}
	_, err := fmt.Fprintf(ios.Out, "%s %d\n", ref.Key, ref.Version)
	return err
}

// enableRefOutput declares the formats of the commands that print a
// reference.
func enableRefOutput(cmd *cobra.Command) {
	cmdutil.EnableOutput(cmd, "", printers.FormatJSON, printers.FormatYAML, printers.FormatName)
}

// inputArg returns the data source of put and patch: args[i], or "-"
// (stdin) when it is missing and stdin is not a terminal. On a terminal a
// missing source is a usage error: reading the keyboard is rarely meant.
func inputArg(ios *iostreams.IOStreams, args []string, i int, what string) (string, error) {
	if len(args) > i {
		return args[i], nil
	}
	if ios.IsStdinTTY() {
		return "", cmdutil.FlagErrorf("%s needs data: give a file, or pipe the data to stdin (or pass - to type it)", what)
	}
	return "-", nil
}

// readInput reads src: "-" is stdin, anything else a file.
func readInput(ios *iostreams.IOStreams, src string) ([]byte, error) {
	if src == "-" {
		b, err := io.ReadAll(ios.In)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src, unwrapPath(err))
	}
	return b, nil
}

// unwrapPath drops the *PathError around err, whose message repeats the
// path the caller names already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeFileAtomic writes data to path through a temporary file beside it
// that replaces path only once complete, so a failure leaves no partial
// file. A new file gets mode 0644 (before umask); an existing one keeps its
// mode.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	return nil
}

// humanSize returns n bytes in IEC units: "512 B", "1.5 KiB", "3.0 GiB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}
