package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// ExactArgs accepts exactly n positional arguments. When the count is wrong
// the error is a *FlagError carrying msg (e.g. "context use needs the name
// of a context"), or naming the surplus arguments.
func ExactArgs(n int, msg string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return FlagErrorf("%s", msg)
		case len(args) > n:
			return FlagErrorf("too many arguments for %q: %s", cmd.CommandPath(), strings.Join(args[n:], " "))
		}
		return nil
	}
}

// MaximumNArgs accepts at most n positional arguments.
func MaximumNArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return FlagErrorf("too many arguments for %q: %s", cmd.CommandPath(), strings.Join(args[n:], " "))
		}
		return nil
	}
}

// NoArgs accepts no positional arguments.
func NoArgs(cmd *cobra.Command, args []string) error {
	return MaximumNArgs(0)(cmd, args)
}

// GroupArgs is the Args of a command that only groups subcommands, such as
// "flmctl context": an argument there is an unknown subcommand, reported as
// a usage error with suggestions. (cobra itself checks this only for the
// root command.)
func GroupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return UnknownCommandError(cmd, args[0])
}

// GroupRunE is the RunE of a command that only groups subcommands: run
// without a subcommand it prints its help to stdout.
func GroupRunE(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}

// UnknownCommandError is the usage error for an unknown subcommand name of
// cmd, with the nearest existing names as suggestions.
func UnknownCommandError(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default for the root
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return FlagErrorf("%s", msg)
}
