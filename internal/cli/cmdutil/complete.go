package cmdutil

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/pkg/contexts"
)

// ContextNames returns the names of the contexts in the config file, in file
// order. A missing file has none.
func ContextNames(f *Factory) ([]string, error) {
	path, err := f.ConfigPath()
	if err != nil {
		return nil, err
	}
	file, err := contexts.LoadOrEmpty(path)
	if err != nil {
		return nil, err
	}
	return file.Names(), nil
}

// CompleteContextNames completes context names from the config file without
// contacting any server. Errors give no candidates: completion must never
// print them into the user's shell.
func CompleteContextNames(f *Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names, err := ContextNames(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, toComplete) })
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteFirstArg applies fn to the first positional argument only, so that
// a command taking one name does not offer more after it.
func CompleteFirstArg(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}
