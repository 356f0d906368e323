// Package printers writes command results in the format chosen with
// -o/--output: table (the default of list commands), wide (a table with
// more columns), json, yaml or name (kind/name per line, for scripts).
//
// A command describes its result once as a List (columns, and per item the
// table cells, the name and the object for structured output) and hands it to
// a Printer made by New. Structured output of protobuf messages goes through
// protojson with proto field names and every field present, re-indented so the
// bytes are stable; other values go through encoding/json. YAML is the same
// JSON converted with sigs.k8s.io/yaml, so JSON and YAML always agree.
package printers

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Output formats.
const (
	FormatTable = "table"
	FormatWide  = "wide"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
	FormatName  = "name"
)

// AllowedFormats returns every format New accepts, in the order help text and
// completion show them.
func AllowedFormats() []string {
	return []string{FormatTable, FormatWide, FormatJSON, FormatYAML, FormatName}
}

// UnknownFormatError reports an -o value a command does not support.
type UnknownFormatError struct {
	Format  string
	Allowed []string
}

// Error returns e.g. `unknown output format "xml"; allowed: table, wide, json, yaml, name`.
func (e *UnknownFormatError) Error() string {
	return fmt.Sprintf("unknown output format %q; allowed: %s", e.Format, strings.Join(e.Allowed, ", "))
}

// CheckFormat returns an *UnknownFormatError unless format is one of allowed.
func CheckFormat(format string, allowed []string) error {
	if !slices.Contains(allowed, format) {
		return &UnknownFormatError{Format: format, Allowed: allowed}
	}
	return nil
}

// Column is one column of a table.
type Column struct {
	Header string // printed in upper case
	Wide   bool   // shown only with -o wide
}

// Item is one result row.
type Item struct {
	// Name identifies the item for -o name, which prints "kind/name".
	Name string
	// Cells holds one value per column of the List, wide columns included.
	// Strings print as they are, time.Time and *timestamppb.Timestamp as
	// times (see FormatTime), anything else with fmt.Sprint. Tabs and line
	// breaks inside a cell become spaces.
	Cells []any
	// Object is what -o json|yaml prints: a proto.Message, or a value that
	// encoding/json can marshal (json.RawMessage included).
	Object any
}

// List is a command's result, described once for every format.
type List struct {
	Kind    string // e.g. "context"; -o name prints "context/local"
	Columns []Column
	Items   []Item
}

// Options tune a Printer.
type Options struct {
	// NoHeaders leaves out the header line of tables (--no-headers).
	NoHeaders bool
	// TTY says stdout is a terminal: times are then printed relative to now
	// ("5m ago") instead of in RFC 3339.
	TTY bool
	// Now returns the current time for relative times; nil means time.Now.
	Now func() time.Time
}

// Printer writes Lists in one format.
type Printer struct {
	format string
	opts   Options
}

// New returns a Printer for format, which must be one of AllowedFormats;
// otherwise the error is an *UnknownFormatError.
func New(format string, opts Options) (*Printer, error) {
	if err := CheckFormat(format, AllowedFormats()); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Printer{format: format, opts: opts}, nil
}

// Format returns the printer's output format.
func (p *Printer) Format() string { return p.format }

// IsStructured reports whether the printer writes json or yaml.
func (p *Printer) IsStructured() bool { return p.format == FormatJSON || p.format == FormatYAML }

// PrintList writes all items of l: a table, one "kind/name" line per item,
// one JSON array or one YAML list. An empty list prints nothing as a table or
// names, and [] as JSON or YAML.
func (p *Printer) PrintList(w io.Writer, l *List) error {
	switch p.format {
	case FormatJSON, FormatYAML:
		objs := make([]any, len(l.Items))
		for i, it := range l.Items {
			objs[i] = it.Object
		}
		return p.writeStructured(w, objs, true)
	default:
		return p.printText(w, l)
	}
}

// PrintOne writes the single item of l: as an object rather than a
// one-element array in JSON and YAML, and like PrintList otherwise.
func (p *Printer) PrintOne(w io.Writer, l *List) error {
	if len(l.Items) != 1 {
		return fmt.Errorf("print one %s: got %d items", l.Kind, len(l.Items))
	}
	switch p.format {
	case FormatJSON, FormatYAML:
		return p.writeStructured(w, []any{l.Items[0].Object}, false)
	default:
		return p.printText(w, l)
	}
}

func (p *Printer) printText(w io.Writer, l *List) error {
	if len(l.Items) == 0 {
		return nil
	}
	if p.format == FormatName {
		var b strings.Builder
		for _, it := range l.Items {
			if l.Kind != "" {
				b.WriteString(l.Kind)
				b.WriteByte('/')
			}
			b.WriteString(it.Name)
			b.WriteByte('\n')
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	return p.printTable(w, l)
}

func (p *Printer) writeStructured(w io.Writer, objs []any, list bool) error {
	var (
		out []byte
		err error
	)
	if list {
		out, err = marshalJSONList(objs)
	} else {
		out, err = MarshalJSON(objs[0])
	}
	if err != nil {
		return err
	}
	if p.format == FormatYAML {
		if out, err = jsonToYAML(out); err != nil {
			return err
		}
	}
	_, err = w.Write(out)
	return err
}
