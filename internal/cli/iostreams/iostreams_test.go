package iostreams

import (
	"errors"
	"strings"
	"testing"
)

func TestTest_Defaults(t *testing.T) {
	ios, in, out, errOut := Test()
	if ios.IsStdinTTY() || ios.IsStdoutTTY() || ios.IsStderrTTY() || ios.ColorEnabled() || ios.CanPrompt() {
		t.Error("Test streams must start as non-terminals without color")
	}
	in.WriteString("x")
	if ios.In != in || ios.Out != out || ios.ErrOut != errOut {
		t.Error("Test streams are not the returned buffers")
	}
	if got := ios.TerminalWidth(); got != DefaultWidth {
		t.Errorf("TerminalWidth = %d, want %d", got, DefaultWidth)
	}
	ios.SetTerminalWidth(120)
	if got := ios.TerminalWidth(); got != 120 {
		t.Errorf("TerminalWidth after SetTerminalWidth(120) = %d", got)
	}
}

func TestIOStreams_CanPrompt(t *testing.T) {
	tests := []struct {
		in, out, err bool
		want         bool
	}{
		{true, true, true, true},
		{true, true, false, true},
		{false, true, true, false}, // piped input: no one to answer
		{true, false, true, false}, // output redirected: the question would be hidden
		{false, false, false, false},
	}
	for _, tt := range tests {
		ios, _, _, _ := Test()
		ios.SetStdinTTY(tt.in)
		ios.SetStdoutTTY(tt.out)
		ios.SetStderrTTY(tt.err)
		if got := ios.CanPrompt(); got != tt.want {
			t.Errorf("CanPrompt(in=%v out=%v err=%v) = %v, want %v", tt.in, tt.out, tt.err, got, tt.want)
		}
	}
}

func TestNoColor(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"NO_COLOR": ""}, false}, // no-color.org: only a non-empty value counts
		{map[string]string{"NO_COLOR": "1"}, true},
	}
	for _, tt := range tests {
		lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		if got := noColor(lookup); got != tt.want {
			t.Errorf("noColor(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestSystem_NotATerminalUnderTest(t *testing.T) {
	// go test runs with stdout on a pipe or file, never a terminal: no color.
	ios := System(func(string) (string, bool) { return "", false })
	if ios.ColorEnabled() != ios.IsStdoutTTY() {
		t.Errorf("ColorEnabled = %v with stdout terminal = %v and no NO_COLOR", ios.ColorEnabled(), ios.IsStdoutTTY())
	}
	if ios := System(func(k string) (string, bool) { return "1", k == "NO_COLOR" }); ios.ColorEnabled() {
		t.Error("color enabled although NO_COLOR is set")
	}
}

func TestColorScheme(t *testing.T) {
	ios, _, _, _ := Test()
	cs := ios.ColorScheme()
	if got := cs.Bold("x"); got != "x" {
		t.Errorf("Bold without color = %q", got)
	}
	ios.SetColorEnabled(true)
	cs = ios.ColorScheme()
	for name, got := range map[string]string{
		"Bold": cs.Bold("x"), "Green": cs.Green("x"), "Yellow": cs.Yellow("x"), "Red": cs.Red("x"), "Gray": cs.Gray("x"),
	} {
		if len(got) <= len("x") || got[0] != '\x1b' || got[len(got)-4:] != "\x1b[0m" {
			t.Errorf("%s with color = %q, want an ANSI-wrapped x", name, got)
		}
	}
	if got := cs.Red(""); got != "" {
		t.Errorf("Red(\"\") = %q, want empty", got)
	}
}

func TestIOStreams_Confirm(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    bool
		wantErr error
		prompts int
	}{
		{"yes", "y\n", true, nil, 1},
		{"YES", "YES\n", true, nil, 1},
		{"no", "n\n", false, nil, 1},
		{"empty means no", "\n", false, nil, 1},
		{"answer without newline", "yes", true, nil, 1},
		{"asks again", "maybe\ny\n", true, nil, 2},
		{"end of input", "", false, ErrNoAnswer, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := Test()
			in.WriteString(tt.input)
			got, err := ios.Confirm("Delete it?")
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Confirm = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("prompt written to stdout: %q", out.String())
			}
			if n := strings.Count(errOut.String(), "[y/N]"); n != tt.prompts {
				t.Errorf("asked %d times, want %d; stderr %q", n, tt.prompts, errOut.String())
			}
		})
	}
}

func TestStartSpinner_NoTerminalNoOutput(t *testing.T) {
	for _, tty := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		ios, _, out, errOut := Test()
		ios.SetStdoutTTY(tty[0])
		ios.SetStderrTTY(tty[1])
		stop := ios.StartSpinner("working")
		stop()
		// Test streams are buffers, not the process's stderr: never a spinner.
		if out.Len()+errOut.Len() != 0 {
			t.Errorf("tty=%v: spinner wrote %q / %q", tty, out.String(), errOut.String())
		}
	}
}
