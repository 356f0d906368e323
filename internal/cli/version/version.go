// Package version holds the build identity of flmctl and the "flmctl
// version" command.
//
// Release builds set Version and Commit with the linker:
//
//	go build -ldflags "-X github.com/flmctl/flmctl/internal/cli/version.Version=v0.1.0 \
//	  -X github.com/flmctl/flmctl/internal/cli/version.Commit=$(git rev-parse --short HEAD)" ./cmd/flmctl
//
// Without them, Info falls back to what the Go toolchain recorded
// (runtime/debug.ReadBuildInfo): the module version for "go install
// ...@version" builds and the VCS revision when it was stamped.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/internal/cli/printers"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Set with -ldflags -X; see the package documentation.
var (
	// Version is the release version, e.g. "v0.1.0".
	Version = ""
	// Commit is the VCS revision the binary was built from.
	Commit = ""
)

// Protocol is the Flame protocol package flmctl speaks, taken from the
// generated code so it cannot drift.
var Protocol = string(flamev1.File_flame_v1_frontend_proto.Package())

// Info returns the build identity: the -X values when set, else the Go build
// information, else "dev" and "unknown".
func Info() cmdutil.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return info(Version, Commit, bi)
}

func info(version, commit string, bi *debug.BuildInfo) cmdutil.BuildInfo {
	out := cmdutil.BuildInfo{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if bi.GoVersion != "" {
			out.GoVersion = bi.GoVersion
		}
		if out.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			out.Version = bi.Main.Version
		}
		if out.Commit == "" {
			var rev string
			dirty := false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" && dirty {
				rev += "-dirty"
			}
			out.Commit = rev
		}
	}
	if out.Version == "" {
		out.Version = "dev"
	}
	if out.Commit == "" {
		out.Commit = "unknown"
	}
	return out
}

// Options are the inputs of "flmctl version".
type Options struct {
	IO     *iostreams.IOStreams
	Build  cmdutil.BuildInfo
	Format string // "" (text), json or yaml
}

// versionObject is the -o json|yaml shape.
type versionObject struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Protocol  string `json:"protocol"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// NewCmdVersion returns "flmctl version". runF, when not nil, replaces the
// run function (tests capture the options with it).
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of flmctl",
		Long: `Print the version and commit of flmctl, the Flame protocol it speaks and the Go
toolchain it was built with. It does not contact any cluster.`,
		Example: `  flmctl version
  flmctl version --output json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			opts.Build = f.Build
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmdutil.EnableOutput(cmd, "", printers.FormatJSON, printers.FormatYAML)
	return cmd
}

func versionRun(opts *Options) error {
	obj := versionObject{
		Version:   opts.Build.Version,
		Commit:    opts.Build.Commit,
		Protocol:  Protocol,
		GoVersion: opts.Build.GoVersion,
		Platform:  opts.Build.Platform,
	}
	if opts.Format != "" {
		return printers.WriteStructured(opts.IO.Out, opts.Format, obj)
	}
	_, err := fmt.Fprintf(opts.IO.Out, "Version:  %s\nCommit:   %s\nProtocol: %s\nGo:       %s %s\n",
		obj.Version, obj.Commit, obj.Protocol, obj.GoVersion, obj.Platform)
	return err
}
