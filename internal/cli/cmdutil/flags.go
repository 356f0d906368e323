package cmdutil

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// StringEnumFlag defines a string flag that accepts only one of options and
// completes them in the shell. The choices are appended to usage as
// "{a|b|c}". An empty defaultValue is allowed even if it is not an option:
// it means "not given".
func StringEnumFlag(cmd *cobra.Command, p *string, name, shorthand, defaultValue string, options []string, usage string) *pflag.Flag {
	*p = defaultValue
	v := &enumValue{p: p, options: options}
	fl := cmd.Flags().VarPF(v, name, shorthand, fmt.Sprintf("%s {%s}", usage, strings.Join(options, "|")))
	// Registration fails only for an unknown or twice-registered flag, which
	// is a programming error that the command tests catch.
	if err := cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(options, cobra.ShellCompDirectiveNoFileComp)); err != nil {
		panic(fmt.Sprintf("register completion for --%s: %v", name, err))
	}
	return fl
}

type enumValue struct {
	p       *string
	options []string
}

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.options, s) {
		return fmt.Errorf("valid values are {%s}", strings.Join(e.options, "|"))
	}
	*e.p = s
	return nil
}

func (e *enumValue) String() string { return *e.p }

func (e *enumValue) Type() string { return "string" }
