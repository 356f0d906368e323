package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
)

// Annotations by which a command declares the -o formats it supports.
const (
	annotationFormats       = "flmctl/output-formats"
	annotationDefaultFormat = "flmctl/output-default"
)

// OutputFlag is the name of the global -o/--output flag.
const OutputFlag = "output"

// EnableOutput declares that cmd prints data in the given formats, def being
// the one used without -o. Without this declaration a command rejects -o, and
// the shell completes no formats for it.
func EnableOutput(cmd *cobra.Command, def string, allowed ...string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotationFormats] = strings.Join(allowed, ",")
	cmd.Annotations[annotationDefaultFormat] = def
}

// OutputFormats returns the formats cmd declared with EnableOutput, or nil.
func OutputFormats(cmd *cobra.Command) []string {
	s, ok := cmd.Annotations[annotationFormats]
	if !ok || s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// OutputFormat returns the -o value in effect for cmd: the flag if given,
// else the command's default. A format the command does not support is a
// *FlagError naming the allowed ones.
func OutputFormat(cmd *cobra.Command) (string, error) {
	allowed := OutputFormats(cmd)
	fl := cmd.Flags().Lookup(OutputFlag)
	if allowed == nil {
		if fl != nil && fl.Changed {
			return "", FlagErrorf("%q prints no data and takes no --output flag", cmd.CommandPath())
		}
		return "", nil
	}
	format := cmd.Annotations[annotationDefaultFormat]
	if fl != nil && fl.Value.String() != "" {
		format = fl.Value.String()
	}
	if format == "" {
		return "", nil // the command's own default, e.g. plain text
	}
	if err := printers.CheckFormat(format, allowed); err != nil {
		return "", FlagErrorWrap(err)
	}
	return format, nil
}

// AddGlobalFlags defines the persistent flags of the root command on cmd,
// bound to f.Globals, with their shell completion. Tests of a single command
// call it on a bare root above that command, so global flags parse as in
// flmctl.
func AddGlobalFlags(cmd *cobra.Command, f *Factory) {
	fs := cmd.PersistentFlags()
	g := f.Globals
	fs.StringVar(&g.ConfigFile, "config", "", "read and write only this config `file` (default $FLAME_CONFIG, else ~/.flame/flame.yaml)")
	fs.StringVar(&g.Context, "context", "", "use the context `name` instead of the current-context of the config file (env FLAME_CONTEXT)")
	fs.StringVar(&g.Endpoint, "endpoint", "", "connect to this cluster `URL`, ignoring the context's endpoint and FLAME_ENDPOINT")
	fs.StringVarP(&g.Output, OutputFlag, "o", "", fmt.Sprintf("output `format`: one of %s, as the command supports", strings.Join(printers.AllowedFormats(), ", ")))
	mustRegister(cmd, "context", CompleteContextNames(f))
	mustRegister(cmd, OutputFlag, completeOutput)
	mustRegister(cmd, "config", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	mustRegister(cmd, "endpoint", cobra.NoFileCompletions)
}

// completeOutput completes -o with the formats of the command being
// completed, or every format on a command that does not print data.
func completeOutput(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	formats := OutputFormats(cmd)
	if formats == nil {
		formats = printers.AllowedFormats()
	}
	return formats, cobra.ShellCompDirectiveNoFileComp
}

func mustRegister(cmd *cobra.Command, flag string, fn cobra.CompletionFunc) {
	// Fails only for an unknown or twice-registered flag: a programming error
	// that every command test would hit.
	if err := cmd.RegisterFlagCompletionFunc(flag, fn); err != nil {
		panic(fmt.Sprintf("register completion for --%s: %v", flag, err))
	}
}

// EnableListOutput declares the output of a list command: every -o format,
// a table by default, and --no-headers bound to noHeaders.
func EnableListOutput(cmd *cobra.Command, noHeaders *bool) {
	cmd.Flags().BoolVar(noHeaders, "no-headers", false, "print table rows without the header line")
	EnableOutput(cmd, printers.FormatTable, printers.AllowedFormats()...)
}

// PrintList prints l to io.Out in format. An empty list printed as text is
// not an error but a *NoResultsError with the message empty (exit 0; the
// message goes to stderr on a terminal); JSON and YAML print an empty list.
func PrintList(io *iostreams.IOStreams, format string, noHeaders bool, l *printers.List, empty string) error {
	p, err := printers.New(format, printers.Options{NoHeaders: noHeaders, TTY: io.IsStdoutTTY()})
	if err != nil {
		return err
	}
	if len(l.Items) == 0 && !p.IsStructured() {
		return NewNoResultsError(empty)
	}
	return p.PrintList(io.Out, l)
}

// PrintOne prints the single item of l to io.Out in format.
func PrintOne(io *iostreams.IOStreams, format string, l *printers.List) error {
	p, err := printers.New(format, printers.Options{TTY: io.IsStdoutTTY()})
	if err != nil {
		return err
	}
	return p.PrintOne(io.Out, l)
}
