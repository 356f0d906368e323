package serve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

func TestNewCmdServe(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string // substring of a usage error
	}{
		{name: "builtin", args: []string{"--builtin", "echo"}, want: Options{Builtin: "echo", Framing: "line"}},
		{name: "command", args: []string{"--", "cat", "-n"}, want: Options{Command: []string{"cat", "-n"}, Framing: "line"}},
		{name: "stream length", args: []string{"--stream", "--framing", "length", "--timeout", "2s", "--", "./w.sh"},
			want: Options{Command: []string{"./w.sh"}, Stream: true, Framing: "length", Timeout: 2 * time.Second}},
		{name: "listen", args: []string{"--listen", "unix:///tmp/x.sock", "--builtin", "echo"},
			want: Options{Builtin: "echo", Framing: "line", Listen: "unix:///tmp/x.sock"}},
		{name: "stream line", args: []string{"--stream", "--framing", "line", "--", "./w.sh", "-v"},
			want: Options{Command: []string{"./w.sh", "-v"}, Stream: true, Framing: "line"}},
		{name: "timeout without stream", args: []string{"--timeout", "1m30s", "--", "sh", "-c", "cat"},
			want: Options{Command: []string{"sh", "-c", "cat"}, Framing: "line", Timeout: 90 * time.Second}},
		{name: "zero timeout", args: []string{"--timeout", "0", "--", "cat"}, want: Options{Command: []string{"cat"}, Framing: "line"}},
		{name: "command flags after --", args: []string{"--", "grep", "--builtin", "-n"},
			want: Options{Command: []string{"grep", "--builtin", "-n"}, Framing: "line"}},
		{name: "listen with command", args: []string{"--listen", "unix:///tmp/w.sock", "--stream", "--", "./w.sh"},
			want: Options{Command: []string{"./w.sh"}, Stream: true, Framing: "line", Listen: "unix:///tmp/w.sock"}},
		{name: "listen unix:path", args: []string{"--listen", "unix:/tmp/x.sock", "--builtin", "flmping"},
			want: Options{Builtin: "flmping", Framing: "line", Listen: "unix:/tmp/x.sock"}},
		{name: "listen plain path", args: []string{"--listen", "/tmp/x.sock", "--builtin", "flmexec"},
			want: Options{Builtin: "flmexec", Framing: "line", Listen: "/tmp/x.sock"}},
		{name: "neither", args: nil, wantErr: "--builtin NAME (one of echo, flmexec, flmping) or -- COMMAND [ARG...]"},
		{name: "both", args: []string{"--builtin", "echo", "--", "cat"}, wantErr: `--builtin takes no command; remove "cat"`},
		{name: "stream with builtin", args: []string{"--builtin", "echo", "--stream"}, wantErr: "--stream applies to a command"},
		{name: "timeout with builtin", args: []string{"--builtin", "echo", "--timeout", "1s"}, wantErr: "--timeout applies to a command"},
		{name: "framing without stream", args: []string{"--framing", "length", "--", "cat"}, wantErr: "--framing applies to --stream"},
		{name: "bad framing", args: []string{"--stream", "--framing", "json", "--", "cat"}, wantErr: "line|length"},
		{name: "negative timeout", args: []string{"--timeout", "-1s", "--", "cat"}, wantErr: "must not be negative"},
		{name: "tcp listen", args: []string{"--listen", "tcp://127.0.0.1:1", "--", "cat"}, wantErr: "use unix:///PATH"},
		{name: "stream alone", args: []string{"--stream"}, wantErr: "flmctl serve needs a service: --builtin NAME (one of echo, flmexec, flmping) or -- COMMAND [ARG...] " +
			"(a program that reads a task's input on stdin and writes its output on stdout)"},
		{name: "unknown builtin", args: []string{"--builtin", "nope"}, wantErr: `invalid argument "nope" for "--builtin" flag: valid values are {echo|flmexec|flmping}`},
		{name: "both, many args", args: []string{"--builtin", "echo", "--", "sh", "-c", "cat"}, wantErr: `--builtin takes no command; remove "sh -c cat" or drop --builtin`},
		{name: "framing with builtin", args: []string{"--builtin", "echo", "--framing", "line"},
			wantErr: "--framing applies to a command (flmctl serve -- COMMAND), not to --builtin"},
		{name: "framing line without stream", args: []string{"--framing", "line", "--", "cat"},
			wantErr: "--framing applies to --stream; add --stream or remove --framing"},
		{name: "bad timeout", args: []string{"--timeout", "soon", "--", "cat"}, wantErr: `invalid argument "soon" for "--timeout" flag`},
		{name: "negative timeout message", args: []string{"--stream", "--timeout", "-2s", "--", "cat"}, wantErr: "--timeout must not be negative, got -2s"},
		{name: "http listen", args: []string{"--listen", "http://127.0.0.1:1", "--builtin", "echo"},
			wantErr: `--listen "http://127.0.0.1:1": only Unix sockets are served; use unix:///PATH`},
		{name: "long listen path", args: []string{"--listen", "unix:///" + strings.Repeat("s", 120), "--builtin", "echo"},
			wantErr: "--listen socket path /" + strings.Repeat("s", 120) + " is 121 bytes, more than the 107 a Unix socket allows; use a shorter path"},
		{name: "empty listen path", args: []string{"--listen", "unix://", "--", "cat"}, wantErr: "names no socket path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			f := cmdutil.New(ios, nil, cmdutil.BuildInfo{})
			var got *Options
			cmd := NewCmdServe(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&strings.Builder{})
			cmd.SetErr(&strings.Builder{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) && !strings.Contains(err.Error(), "invalid argument") {
					t.Fatalf("error %v is not a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Environ = nil, nil
			if len(got.Command) == 0 {
				got.Command = nil
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Fatalf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeRun_ListenPrintsHowToReachIt(t *testing.T) {
	in := startServe(t, &Options{Builtin: "echo"})
	if got := in.mustInvoke(t, "1", []byte("hi")); got != "hi" {
		t.Fatalf("echo = %q", got)
	}
	if err := in.stop(t); err != nil {
		t.Fatal(err)
	}
	msg := in.errOut.String()
	if !strings.Contains(msg, "Serving flame.v1.Instance on unix://"+in.dir+"/i.sock") || !strings.Contains(msg, "grpcurl -plaintext -unix") {
		t.Fatalf("stderr %q does not say how to reach the socket", msg)
	}
}

func TestServeRun_ListenRefusesAFile(t *testing.T) {
	dir := shortTempDir(t)
	ios, _, _, _ := iostreams.Test()
	path := dir + "/not-a-socket"
	if err := writeFile(path); err != nil {
		t.Fatal(err)
	}
	err := serveRun(context.Background(), &Options{IO: ios, Builtin: "echo", Listen: "unix://" + path})
	if err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Fatalf("error %v", err)
	}
}
