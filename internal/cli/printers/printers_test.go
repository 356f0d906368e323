package printers

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type session struct {
	ID      string    `json:"id"`
	App     string    `json:"app"`
	Slots   int       `json:"slots"`
	Created time.Time `json:"created"`
	Note    string    `json:"note,omitempty"`
}

func sessionList() *List {
	s1 := session{ID: "ssn-1", App: "flmping", Slots: 1, Created: now.Add(-3 * time.Minute)}
	s2 := session{ID: "ssn-22", App: "matrix\tmultiply", Slots: 12, Created: now.Add(-50 * time.Hour), Note: "two\nlines"}
	return &List{
		Kind: "session",
		Columns: []Column{
			{Header: "id"}, {Header: "app"}, {Header: "slots"}, {Header: "created"}, {Header: "note", Wide: true},
		},
		Items: []Item{
			{Name: s1.ID, Cells: []any{s1.ID, s1.App, s1.Slots, s1.Created, s1.Note}, Object: s1},
			{Name: s2.ID, Cells: []any{s2.ID, s2.App, s2.Slots, s2.Created, s2.Note}, Object: s2},
		},
	}
}

func application(name string) *flamev1.Application {
	return &flamev1.Application{
		Metadata: &flamev1.Metadata{Id: name, Name: name},
		Spec:     &flamev1.ApplicationSpec{Shim: flamev1.Shim_Host, Command: proto.String("/usr/bin/" + name), Arguments: []string{"-v"}},
		Status:   &flamev1.ApplicationStatus{State: flamev1.ApplicationState_Enabled, CreationTime: 1764072000000},
	}
}

func TestPrinter_PrintList(t *testing.T) {
	tests := []struct {
		golden string
		format string
		opts   Options
		list   *List
	}{
		{"sessions.table", FormatTable, Options{}, sessionList()},
		{"sessions.table-tty", FormatTable, Options{TTY: true}, sessionList()},
		{"sessions.wide", FormatWide, Options{}, sessionList()},
		{"sessions.no-headers", FormatTable, Options{NoHeaders: true}, sessionList()},
		{"sessions.name", FormatName, Options{}, sessionList()},
		{"sessions.json", FormatJSON, Options{}, sessionList()},
		{"sessions.yaml", FormatYAML, Options{}, sessionList()},
		{"apps.json", FormatJSON, Options{}, &List{Kind: "application", Items: []Item{
			{Name: "a", Object: application("a")}, {Name: "b", Object: application("b")},
		}}},
		{"apps.yaml", FormatYAML, Options{}, &List{Kind: "application", Items: []Item{{Name: "a", Object: application("a")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			tt.opts.Now = func() time.Time { return now }
			p, err := New(tt.format, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := p.PrintList(&out, tt.list); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out.Bytes())
			for i, line := range strings.Split(out.String(), "\n") {
				if strings.HasSuffix(line, " ") {
					t.Errorf("line %d ends in a space: %q", i+1, line)
				}
			}
		})
	}
}

func TestPrinter_PrintOne(t *testing.T) {
	one := &List{Kind: "application", Columns: []Column{{Header: "name"}},
		Items: []Item{{Name: "a", Cells: []any{"a"}, Object: application("a")}}}
	for _, tt := range []struct{ format, want string }{
		{FormatTable, "NAME\na\n"},
		{FormatName, "application/a\n"},
	} {
		p, _ := New(tt.format, Options{})
		var out bytes.Buffer
		if err := p.PrintOne(&out, one); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("-o %s: got %q, want %q", tt.format, out.String(), tt.want)
		}
	}
	p, _ := New(FormatJSON, Options{})
	var out bytes.Buffer
	if err := p.PrintOne(&out, one); err != nil {
		t.Fatal(err)
	}
	golden(t, "app.json", out.Bytes())

	if err := p.PrintOne(&out, sessionList()); err == nil {
		t.Error("PrintOne of two items succeeded")
	}
}

// The same proto message must give the same bytes every time: protojson
// varies its whitespace on purpose, and we undo that.
func TestMarshalJSON_ProtoIsStable(t *testing.T) {
	first, err := MarshalJSON(application("a"))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := MarshalJSON(application("a"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("unstable output:\n%s\n%s", first, again)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(first, &m); err != nil {
		t.Fatal(err)
	}
	status := m["status"].(map[string]any)
	if status["state"] != "Enabled" {
		t.Errorf("enum printed as %v, want its name", status["state"])
	}
	if _, ok := m["spec"].(map[string]any)["labels"]; !ok {
		t.Error("empty repeated field left out; every field must be present")
	}
}

func TestPrinter_EmptyList(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{FormatTable, ""}, {FormatWide, ""}, {FormatName, ""}, {FormatJSON, "[]\n"}, {FormatYAML, "[]\n"},
	} {
		p, err := New(tt.format, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := p.PrintList(&out, &List{Kind: "x", Columns: []Column{{Header: "a"}}}); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("-o %s: got %q, want %q", tt.format, out.String(), tt.want)
		}
	}
}

func TestNew_UnknownFormat(t *testing.T) {
	_, err := New("xml", Options{})
	const want = `unknown output format "xml"; allowed: table, wide, json, yaml, name`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var ufe *UnknownFormatError
	if !errors.As(err, &ufe) || ufe.Format != "xml" {
		t.Errorf("error %T is not an *UnknownFormatError for xml", err)
	}
	for _, f := range AllowedFormats() {
		if _, err := New(f, Options{}); err != nil {
			t.Errorf("New(%q): %v", f, err)
		}
	}
}

func TestPrinter_CellCountMismatch(t *testing.T) {
	p, _ := New(FormatTable, Options{})
	l := &List{Kind: "x", Columns: []Column{{Header: "a"}, {Header: "b"}}, Items: []Item{{Name: "n", Cells: []any{"only one"}}}}
	if err := p.PrintList(&bytes.Buffer{}, l); err == nil {
		t.Error("a row with too few cells printed without error")
	}
}

func TestPrinter_TimeCells(t *testing.T) {
	ts := now.Add(-90 * time.Second)
	cells := []any{ts, &ts, timestamppb.New(ts), (*timestamppb.Timestamp)(nil), time.Time{}}
	l := &List{Kind: "x", Items: []Item{{Name: "n", Cells: cells}}}
	for range cells {
		l.Columns = append(l.Columns, Column{Header: "t"})
	}
	for _, tt := range []struct {
		tty  bool
		want string
	}{
		{false, "2026-11-25T11:58:30Z   2026-11-25T11:58:30Z   2026-11-25T11:58:30Z   <none>   <none>\n"},
		{true, "1m ago   1m ago   1m ago   <none>   <none>\n"},
	} {
		p, _ := New(FormatTable, Options{NoHeaders: true, TTY: tt.tty, Now: func() time.Time { return now }})
		var out bytes.Buffer
		if err := p.PrintList(&out, l); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("tty=%v: got %q, want %q", tt.tty, out.String(), tt.want)
		}
	}
}

func TestFormatTime(t *testing.T) {
	local := time.FixedZone("UTC+2", 2*3600)
	tests := []struct {
		t    time.Time
		tty  bool
		want string
	}{
		{time.Time{}, false, NoTime},
		{time.Time{}, true, NoTime},
		{now.In(local), false, "2026-11-25T12:00:00Z"},
		{now, true, "just now"},
		{now.Add(-59 * time.Second), true, "59s ago"},
		{now.Add(-61 * time.Minute), true, "1h ago"},
		{now.Add(-47 * time.Hour), true, "47h ago"},
		{now.Add(-49 * time.Hour), true, "2d ago"},
		{now.Add(-400 * 24 * time.Hour), true, "1y ago"},
		{now.Add(2 * time.Minute), true, "in 2m"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.t, now, tt.tty); got != tt.want {
			t.Errorf("FormatTime(%v, tty=%v) = %q, want %q", tt.t, tt.tty, got, tt.want)
		}
	}
}

func TestWriteStructured(t *testing.T) {
	v := map[string]any{"b": 1, "a": []string{"x"}}
	var out bytes.Buffer
	if err := WriteStructured(&out, FormatYAML, v); err != nil {
		t.Fatal(err)
	}
	if want := "a:\n- x\nb: 1\n"; out.String() != want {
		t.Errorf("yaml: got %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := WriteStructured(&out, FormatJSON, v); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"a\": [\n    \"x\"\n  ],\n  \"b\": 1\n}\n"; out.String() != want {
		t.Errorf("json: got %q, want %q", out.String(), want)
	}
	if err := WriteStructured(&out, FormatTable, v); err == nil {
		t.Error("WriteStructured accepted -o table")
	}
	if err := WriteStructured(&out, FormatJSON, func() {}); err == nil {
		t.Error("WriteStructured of a func succeeded")
	}
}
