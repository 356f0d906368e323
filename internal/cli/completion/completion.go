// Package completion implements "flmctl completion", which prints shell
// completion scripts.
package completion

import (
	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// Shells lists the shells "flmctl completion" supports.
func Shells() []string { return []string{"bash", "zsh", "fish", "powershell"} }

// Options are the inputs of "flmctl completion".
type Options struct {
	IO    *iostreams.IOStreams
	Shell string
	Root  *cobra.Command
}

// NewCmdCompletion returns "flmctl completion".
func NewCmdCompletion(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "completion {bash|zsh|fish|powershell}",
		Short: "Print a shell completion script",
		Long: `Print the completion script for a shell to stdout. Completion covers commands,
flags, output formats and context names (read from the config file, without
contacting a cluster).

Bash (needs the bash-completion package):
  flmctl completion bash > ~/.local/share/bash-completion/completions/flmctl
  # or, for the current shell only:
  source <(flmctl completion bash)

Zsh:
  flmctl completion zsh > "${fpath[1]}/_flmctl"
  # compinit must run in ~/.zshrc; start a new shell afterwards

Fish:
  flmctl completion fish > ~/.config/fish/completions/flmctl.fish

PowerShell:
  flmctl completion powershell | Out-String | Invoke-Expression
  # add that line to $PROFILE to load it in every session`,
		Example: `  flmctl completion bash > ~/.local/share/bash-completion/completions/flmctl
  flmctl completion zsh > "${fpath[1]}/_flmctl"`,
		ValidArgs: Shells(),
		Args:      cmdutil.ExactArgs(1, "completion needs the name of a shell: bash, zsh, fish or powershell"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Shell = args[0]
			opts.Root = cmd.Root()
			return completionRun(opts)
		},
	}
}

func completionRun(opts *Options) error {
	out := opts.IO.Out
	switch opts.Shell {
	case "bash":
		return opts.Root.GenBashCompletionV2(out, true)
	case "zsh":
		return opts.Root.GenZshCompletion(out)
	case "fish":
		return opts.Root.GenFishCompletion(out, true)
	case "powershell":
		return opts.Root.GenPowerShellCompletionWithDesc(out)
	}
	return cmdutil.FlagErrorf("unsupported shell %q; choose one of bash, zsh, fish, powershell", opts.Shell)
}
