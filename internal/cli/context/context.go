// Package context implements "flmctl context": the named contexts of
// flame.yaml, which say where a Flame cluster and its object cache are.
//
// The commands work on the config file only and never contact a cluster:
// --config, else $FLAME_CONFIG, else ~/.flame/flame.yaml. "list", "current"
// and "use" read and change the file's current-context; "view" shows the
// settings a command would really use, after --context, --endpoint and the
// FLAME_* environment variables.
package context

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// NewCmdContext returns "flmctl context" with its subcommands.
func NewCmdContext(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context <command>",
		Short: "Manage the contexts of flame.yaml",
		Long: `Manage the contexts of flame.yaml. A context names a Flame cluster endpoint, its
object cache and TLS settings; the current context is the one commands use
when no --context flag is given.

These commands change only the config file and never contact a cluster. They
work on the file given with --config, else $FLAME_CONFIG, else
~/.flame/flame.yaml; "context set" creates it when it is missing.`,
		Example: `  flmctl context set local --endpoint http://127.0.0.1:8080
  flmctl context list
  flmctl context use local`,
		Args: cmdutil.GroupArgs,
		RunE: cmdutil.GroupRunE,
	}
	cmd.AddCommand(
		NewCmdList(f, nil),
		NewCmdCurrent(f, nil),
		NewCmdUse(f, nil),
		NewCmdSet(f, nil),
		NewCmdDelete(f, nil),
		NewCmdView(f, nil),
	)
	return cmd
}

// kindPrefix is what -o name puts before a context's name. Commands taking a
// name accept it too, so that "context list -o name" output can be fed back.
const kindPrefix = "context/"

func trimKind(name string) string { return strings.TrimPrefix(name, kindPrefix) }

// loadFile reads the config file at the path configPath returns; a missing
// file is an empty one.
func loadFile(configPath func() (string, error)) (*contexts.File, error) {
	path, err := configPath()
	if err != nil {
		return nil, err
	}
	return contexts.LoadOrEmpty(path)
}

// loadExisting is loadFile for commands that need the file to exist.
func loadExisting(configPath func() (string, error)) (*contexts.File, error) {
	path, err := configPath()
	if err != nil {
		return nil, err
	}
	file, err := contexts.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s does not exist; create a context with %q", path, setHint)
	}
	return file, err
}

const setHint = "flmctl context set NAME --endpoint URL"

// completeNames completes the first argument with context names.
func completeNames(f *cmdutil.Factory) cobra.CompletionFunc {
	return cmdutil.CompleteFirstArg(cmdutil.CompleteContextNames(f))
}
