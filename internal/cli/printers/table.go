package printers

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// Table geometry: kubectl's three spaces between columns.
const (
	tableMinWidth = 0
	tableTabWidth = 8
	tablePadding  = 3
)

// oneLine returns s with each tab and line break ("\n", "\r\n" or "\r"),
// which would break the table's layout, as one space. (A package-level
// strings.Replacer would do the same, but costs every start of flmctl.)
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteByte(' ')
		case '\t', '\n':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (p *Printer) printTable(w io.Writer, l *List) error {
	wide := p.format == FormatWide
	var cols []int
	for i, c := range l.Columns {
		if wide || !c.Wide {
			cols = append(cols, i)
		}
	}
	// Lay the cells out as tab-separated lines, then let tabwriter align them.
	var text strings.Builder
	writeRow := func(cells []string) {
		text.WriteString(strings.Join(cells, "\t"))
		text.WriteByte('\n')
	}
	row := make([]string, len(cols))
	if !p.opts.NoHeaders {
		for j, i := range cols {
			row[j] = strings.ToUpper(oneLine(l.Columns[i].Header))
		}
		writeRow(row)
	}
	now := p.opts.Now()
	for _, it := range l.Items {
		if len(it.Cells) != len(l.Columns) {
			return fmt.Errorf("print %s %q: %d cells for %d columns", l.Kind, it.Name, len(it.Cells), len(l.Columns))
		}
		for j, i := range cols {
			row[j] = p.cell(it.Cells[i], now)
		}
		writeRow(row)
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, tableMinWidth, tableTabWidth, tablePadding, ' ', 0)
	if _, err := io.WriteString(tw, text.String()); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter pads every cell but the last of a line; an empty last cell
	// leaves the padding of the one before it. Trim so output is byte-stable.
	var out bytes.Buffer
	for line := range bytes.Lines(buf.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

func (p *Printer) cell(v any, now time.Time) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = ""
	case string:
		s = v
	case time.Time:
		s = FormatTime(v, now, p.opts.TTY)
	case *time.Time:
		if v != nil {
			s = FormatTime(*v, now, p.opts.TTY)
		}
	case *timestamppb.Timestamp:
		if v != nil {
			s = FormatTime(v.AsTime(), now, p.opts.TTY)
		} else {
			s = FormatTime(time.Time{}, now, p.opts.TTY)
		}
	default:
		s = fmt.Sprint(v)
	}
	return oneLine(s)
}

// NoTime is what FormatTime prints for a zero time.
const NoTime = "<none>"

// FormatTime renders a time for a table cell. On a terminal (tty) it is
// relative to now ("42s ago", "3m ago", "5h ago", "12d ago", "in 2m");
// otherwise it is RFC 3339 in UTC, so that output does not depend on when or
// where it was produced. A zero time prints as NoTime.
func FormatTime(t, now time.Time, tty bool) string {
	if t.IsZero() {
		return NoTime
	}
	if !tty {
		return t.UTC().Format(time.RFC3339)
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + shortDuration(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

// shortDuration renders d in its largest whole unit, rounding down.
func shortDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 2*day:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d < 365*day:
		return fmt.Sprintf("%dd", int(d/day))
	default:
		return fmt.Sprintf("%dy", int(d/(365*day)))
	}
}
