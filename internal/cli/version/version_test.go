package version

import (
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

func TestInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		wantV, wantC    string
	}{
		{"ldflags win", "v1.0.0", "abc1234", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Settings: vcs("f00", "false")}, "v1.0.0", "abc1234"},
		{"go install @version", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}}, "v0.9.0", "unknown"},
		{"vcs stamp", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef0123", "false")}, "dev", "0123456789ab"},
		{"dirty tree", "", "", &debug.BuildInfo{Settings: vcs("0123456789abcdef0123", "true")}, "dev", "0123456789ab-dirty"},
		{"nothing known", "", "", nil, "dev", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := info(tt.version, tt.commit, tt.bi)
			if got.Version != tt.wantV || got.Commit != tt.wantC {
				t.Errorf("info = %+v, want version %q commit %q", got, tt.wantV, tt.wantC)
			}
			if got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("toolchain %q %q", got.GoVersion, got.Platform)
			}
		})
	}
	if Protocol != "flame.v1" {
		t.Errorf("Protocol = %q", Protocol)
	}
}

func testFactory() (*cmdutil.Factory, *iostreams.IOStreams) {
	ios, _, _, _ := iostreams.Test()
	return cmdutil.New(ios, nil, cmdutil.BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.8", Platform: "linux/amd64"}), ios
}

func TestNewCmdVersion(t *testing.T) {
	tests := []struct {
		line    string
		want    string
		wantErr string
	}{
		{"", "", ""},
		{"-o json", "json", ""},
		{"--output yaml", "yaml", ""},
		{"-o table", "", `unknown output format "table"; allowed: json, yaml`},
		{"extra", "", `too many arguments for "flmctl version": extra`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			f, _ := testFactory()
			var got *Options
			root := &cobra.Command{Use: "flmctl", SilenceErrors: true, SilenceUsage: true}
			cmdutil.AddGlobalFlags(root, f)
			root.AddCommand(NewCmdVersion(f, func(o *Options) error { got = o; return nil }))
			root.SetArgs(append([]string{"version"}, strings.Fields(tt.line)...))
			root.SetOut(io.Discard)
			err := root.Execute()
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want *FlagError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Format != tt.want || got.Build.Version != "v1.2.3" {
				t.Errorf("options %+v", *got)
			}
		})
	}
}

func TestVersionRun(t *testing.T) {
	build := cmdutil.BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	tests := []struct {
		format string
		tty    bool
		want   string
	}{
		{"", false, "Version:  v1.2.3\nCommit:   abc\nProtocol: flame.v1\nGo:       go1.26.8 linux/amd64\n"},
		{"", true, "Version:  v1.2.3\nCommit:   abc\nProtocol: flame.v1\nGo:       go1.26.8 linux/amd64\n"},
		{"json", false, `{
  "version": "v1.2.3",
  "commit": "abc",
  "protocol": "flame.v1",
  "go_version": "go1.26.8",
  "platform": "linux/amd64"
}
`},
		{"yaml", false, "commit: abc\ngo_version: go1.26.8\nplatform: linux/amd64\nprotocol: flame.v1\nversion: v1.2.3\n"},
	}
	for _, tt := range tests {
		ios, _, out, errOut := iostreams.Test()
		ios.SetStdoutTTY(tt.tty)
		if err := versionRun(&Options{IO: ios, Build: build, Format: tt.format}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, out.String()); diff != "" {
			t.Errorf("-o %q tty=%v (-want +got):\n%s", tt.format, tt.tty, diff)
		}
		if errOut.Len() != 0 {
			t.Errorf("stderr %q", errOut.String())
		}
	}
}
