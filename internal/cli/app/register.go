package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// RegisterOptions are the inputs of "flmctl app register".
type RegisterOptions struct {
	IO     *iostreams.IOStreams
	Client func(context.Context) (*client.Connection, error)

	File string // -f: manifests to register; "-" is stdin
	Name string // with flags instead of -f
	Spec Spec   // from the flags
	Envs []string
}

// NewCmdRegister returns "flmctl app register". runF, when not nil, replaces
// the run function.
func NewCmdRegister(f *cmdutil.Factory, runF func(context.Context, *RegisterOptions) error) *cobra.Command {
	opts := &RegisterOptions{IO: f.IOStreams, Client: f.Client}
	var maxInstances int64
	var delay int64
	cmd := &cobra.Command{
		Use:   "register {--file <file> | <name> --command <path>}",
		Short: "Register an application",
		Long: `Register applications from a YAML file (upstream Flame's format, several
documents separated by "---"; --file - reads stdin), or one application named
by the argument and described by flags. Registering a name that exists is an
error: use "flmctl app update" or "flmctl app apply".`,
		Example: `  flmctl app register --file echo.yaml
  flmctl app register echo \
    --command /usr/local/bin/flmctl \
    --arg serve \
    --arg --builtin \
    --arg echo \
    --env LOG_LEVEL=debug`,
		Args:              cmdutil.MaximumNArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			specFlags := 0
			for _, name := range []string{"command", "arg", "env", "workdir", "url", "installer", "max-instances", "delay-release", "description", "label", "shim", "image"} {
				if cmd.Flags().Changed(name) {
					specFlags++
				}
			}
			switch {
			case opts.File != "" && len(args) > 0:
				return cmdutil.FlagErrorf("give either --file or an application name with flags, not both")
			case opts.File != "" && specFlags > 0:
				return cmdutil.FlagErrorf("--file describes the applications; drop the other spec flags")
			case opts.File == "" && len(args) == 0:
				return cmdutil.FlagErrorf("app register needs --file FILE or an application name with --command")
			}
			if len(args) == 1 {
				opts.Name = args[0]
				if cmd.Flags().Changed("max-instances") {
					if maxInstances < 0 || maxInstances > int64(^uint32(0)) {
						return cmdutil.FlagErrorf("invalid --max-instances %d", maxInstances)
					}
					opts.Spec.MaxInstances = new(uint32(maxInstances))
				}
				if cmd.Flags().Changed("delay-release") {
					if delay < 0 {
						return cmdutil.FlagErrorf("invalid --delay-release %d: give a number of seconds", delay)
					}
					opts.Spec.DelayRelease = new(Seconds(delay))
				}
				for _, kv := range opts.Envs {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return cmdutil.FlagErrorf("invalid --env %q: use NAME=VALUE", kv)
					}
					if opts.Spec.Environments == nil {
						opts.Spec.Environments = map[string]string{}
					}
					opts.Spec.Environments[k] = v
				}
				if opts.Spec.Shim != "" {
					if _, err := client.ParseShim(opts.Spec.Shim); err != nil {
						return cmdutil.FlagErrorf("--shim: %w", err)
					}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return registerRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.File, "file", "f", "", "register the applications of this YAML `file` (- for stdin)")
	fs.StringVar(&opts.Spec.Command, "command", "", "the `program` that serves the application")
	fs.StringArrayVar(&opts.Spec.Arguments, "arg", nil, "an `argument` of the command (repeatable)")
	fs.StringArrayVar(&opts.Envs, "env", nil, "an environment variable `NAME=VALUE` of the command (repeatable)")
	fs.StringVar(&opts.Spec.WorkingDirectory, "workdir", "", "working `directory` of the command")
	fs.StringVar(&opts.Spec.URL, "url", "", "`URL` of the application's package")
	fs.StringVar(&opts.Spec.Installer, "installer", "", "`installer` of the package, e.g. python")
	fs.Int64Var(&maxInstances, "max-instances", 0, "maximum `number` of instances (default unlimited)")
	fs.Int64Var(&delay, "delay-release", 0, "`seconds` an idle instance waits for more tasks (default the cluster's)")
	fs.StringVar(&opts.Spec.Description, "description", "", "a one-line `description`")
	fs.StringArrayVar(&opts.Spec.Labels, "label", nil, "a `label` (repeatable)")
	fs.StringVar(&opts.Spec.Image, "image", "", "container `image` of the application")
	cmdutil.StringEnumFlag(cmd, &opts.Spec.Shim, "shim", "", "", []string{"Host", "Wasm"}, "how instances are started")
	return cmd
}

func registerRun(ctx context.Context, opts *RegisterOptions) error {
	manifests, err := opts.manifests()
	if err != nil {
		return err
	}
	conn, err := opts.Client(ctx)
	if err != nil {
		return err
	}
	for _, m := range manifests {
		attrs, err := m.Spec.attributes()
		if err != nil {
			return fmt.Errorf("application %q: %w", m.Metadata.Name, err)
		}
		if err := conn.RegisterApplication(ctx, m.Metadata.Name, attrs); err != nil {
			if errors.Is(err, client.ErrAlreadyExists) {
				return fmt.Errorf("%w; change it with \"flmctl app apply\"", err)
			}
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "Application %q registered.\n", m.Metadata.Name)
	}
	return nil
}

func (o *RegisterOptions) manifests() ([]Manifest, error) {
	if o.File == "" {
		return []Manifest{{Metadata: Metadata{Name: o.Name}, Spec: o.Spec}}, nil
	}
	return readManifests(o.IO, o.File)
}

// readManifests reads the manifests of file, "-" meaning stdin.
func readManifests(ios *iostreams.IOStreams, file string) ([]Manifest, error) {
	var (
		data []byte
		err  error
		name = file
	)
	if file == "-" {
		name = "stdin"
		data, err = io.ReadAll(ios.In)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read applications: %w", err)
	}
	return parseManifests(name, data)
}
