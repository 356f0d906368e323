package cache

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressInterval is the least time between two redraws of a progress bar:
// ten a second is smooth enough and costs nothing next to the transfer.
const progressInterval = 100 * time.Millisecond

// progressBar draws one line on a terminal (stderr): the bytes moved, the
// total and percentage when known, and the average rate. Only commands
// whose stderr is a terminal make one. It is not safe for concurrent use;
// the SDK reports progress from the goroutine doing the transfer.
type progressBar struct {
	w     io.Writer
	label string
	width int              // columns of the terminal; the line is cut to fit
	now   func() time.Time // nil means time.Now

	start, last time.Time
	drawn       bool
}

func newProgressBar(w io.Writer, label string, width int, now func() time.Time) *progressBar {
	if now == nil {
		now = time.Now
	}
	return &progressBar{w: w, label: label, width: width, now: now, start: now()}
}

// update redraws the line for done of total bytes (total -1: unknown), at
// most every progressInterval; the last update of a known total is always
// drawn.
func (p *progressBar) update(done, total int64) {
	t := p.now()
	if p.drawn && t.Sub(p.last) < progressInterval && (total < 0 || done < total) {
		return
	}
	p.last = t
	p.drawn = true
	line := p.line(done, total, t.Sub(p.start))
	if p.width > 1 && len(line) > p.width-1 {
		line = line[:p.width-1]
	}
	// \r goes back to the start of the line, \x1b[K erases what a longer
	// previous line left.
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
}

func (p *progressBar) line(done, total int64, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(p.label)
	b.WriteString("  ")
	b.WriteString(humanSize(done))
	if total >= 0 {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		fmt.Fprintf(&b, " / %s  %3d%%", humanSize(total), pct)
	}
	if secs := elapsed.Seconds(); secs >= progressInterval.Seconds() {
		fmt.Fprintf(&b, "  %s/s", humanSize(int64(float64(done)/secs)))
	}
	return b.String()
}

// finish erases the line, if one was drawn.
func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
