// Package iostreams gives commands their standard streams together with what
// is known about them: which ones are terminals, whether color is wanted, how
// wide the terminal is. Commands never touch os.Stdout or os.Stderr directly;
// they write data to Out and everything else (progress, confirmations,
// warnings, prompts) to ErrOut.
package iostreams

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// DefaultWidth is the terminal width assumed when it cannot be measured,
// e.g. when stdout is a pipe.
const DefaultWidth = 80

// IOStreams holds the standard streams of one invocation.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
	colorEnabled          bool
	width                 int // 0: measure Out when it is a terminal, else DefaultWidth

	// errFile is os.Stderr in System; the spinner needs the file itself (P10).
	errFile *os.File
	outFile *os.File
	inBuf   *bufio.Reader // created on the first prompt, so In is read through one buffer
}

// System returns the process's standard streams. lookupEnv is consulted for
// NO_COLOR; nil means os.LookupEnv.
func System(lookupEnv func(string) (string, bool)) *IOStreams {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	s := &IOStreams{
		In:      os.Stdin,
		Out:     os.Stdout,
		ErrOut:  os.Stderr,
		inTTY:   isTerminal(os.Stdin),
		outTTY:  isTerminal(os.Stdout),
		errTTY:  isTerminal(os.Stderr),
		errFile: os.Stderr,
		outFile: os.Stdout,
	}
	s.colorEnabled = s.outTTY && !noColor(lookupEnv)
	return s
}

// noColor reports whether the NO_COLOR convention (https://no-color.org)
// asks for no color: the variable is present and not empty.
func noColor(lookupEnv func(string) (string, bool)) bool {
	v, ok := lookupEnv("NO_COLOR")
	return ok && v != ""
}

func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// Test returns streams backed by buffers, for tests: stdin, stdout and
// stderr. No stream is a terminal and color is off until the Set* methods
// say otherwise.
func Test() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// SetStdinTTY marks stdin as a terminal or not.
func (s *IOStreams) SetStdinTTY(tty bool) { s.inTTY = tty }

// SetStdoutTTY marks stdout as a terminal or not.
func (s *IOStreams) SetStdoutTTY(tty bool) { s.outTTY = tty }

// SetStderrTTY marks stderr as a terminal or not.
func (s *IOStreams) SetStderrTTY(tty bool) { s.errTTY = tty }

// SetColorEnabled turns color on or off.
func (s *IOStreams) SetColorEnabled(on bool) { s.colorEnabled = on }

// SetTerminalWidth fixes the width reported by TerminalWidth.
func (s *IOStreams) SetTerminalWidth(cols int) { s.width = cols }

// IsStdinTTY reports whether stdin is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.inTTY }

// IsStdoutTTY reports whether stdout is a terminal. Output meant for people
// (relative times, color) is used only then.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStderrTTY reports whether stderr is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }

// CanPrompt reports whether the user can be asked a question: stdin and
// stdout are both terminals. Commands that would prompt require --yes
// otherwise.
func (s *IOStreams) CanPrompt() bool { return s.inTTY && s.outTTY }

// ColorEnabled reports whether output may be colored: stdout is a terminal
// and NO_COLOR is not set.
func (s *IOStreams) ColorEnabled() bool { return s.colorEnabled }

// TerminalWidth returns the width of the terminal behind stdout in columns,
// or DefaultWidth when stdout is not a terminal or cannot be measured.
func (s *IOStreams) TerminalWidth() int {
	if s.width > 0 {
		return s.width
	}
	if s.outTTY && s.outFile != nil {
		if w, _, err := term.GetSize(int(s.outFile.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return DefaultWidth
}

// ColorScheme returns the color helpers for stdout; they return their input
// unchanged when color is off.
func (s *IOStreams) ColorScheme() *ColorScheme {
	return &ColorScheme{enabled: s.colorEnabled}
}

// ErrNoAnswer is returned by Confirm when stdin ends before an answer.
var ErrNoAnswer = errors.New("no answer on stdin")

// Confirm asks a yes/no question on stderr and reads the answer from stdin.
// An empty answer means no. Callers check CanPrompt first.
func (s *IOStreams) Confirm(question string) (bool, error) {
	if s.inBuf == nil {
		s.inBuf = bufio.NewReader(s.In)
	}
	for {
		fmt.Fprintf(s.ErrOut, "%s [y/N]: ", question)
		line, err := s.inBuf.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || line == "") {
			fmt.Fprintln(s.ErrOut)
			if errors.Is(err, io.EOF) {
				return false, ErrNoAnswer
			}
			return false, fmt.Errorf("read answer: %w", err)
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		case "", "n", "no":
			return false, nil
		}
		fmt.Fprintln(s.ErrOut, `please answer "y" or "n"`)
	}
}
