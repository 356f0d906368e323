package iostreams

import (
	"time"

	"github.com/briandowns/spinner"
)

// StartSpinner shows an activity indicator with msg on stderr and returns the
// function that removes it. The indicator appears only when stdout and stderr
// are both terminals and the streams are the process's own (System); in every
// other case StartSpinner does nothing, so output captured by pipes, files and
// tests stays clean. Always call the returned stop function, also on errors:
// the spinner hides the cursor while it runs.
//
// Commands that print structured output (-o json|yaml|name) do not call it.
func (s *IOStreams) StartSpinner(msg string) (stop func()) {
	if !s.outTTY || !s.errTTY || s.errFile == nil {
		return func() {}
	}
	// WithWriterFile, not WithWriter: only this option makes the spinner check
	// stderr rather than stdout for a terminal (DEPENDENCIES.md P10).
	sp := spinner.New(spinner.CharSets[11], 120*time.Millisecond,
		spinner.WithWriterFile(s.errFile),
		spinner.WithSuffix(" "+msg))
	sp.Start()
	return sp.Stop
}
