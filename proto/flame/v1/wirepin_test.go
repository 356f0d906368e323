package flamev1_test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// TestWirePin compares the compiled descriptors of every flame.v1 file with
// the hand-written table in testdata/wire.txt, line by line, so that any
// change to the wire (a field number, type, label, enum value, reserved
// number or RPC signature) fails here first.
func TestWirePin(t *testing.T) {
	want := readPinTable(t, "testdata/wire.txt")
	files := []protoreflect.FileDescriptor{
		flamev1.File_flame_v1_types_proto,
		flamev1.File_flame_v1_frontend_proto,
		flamev1.File_flame_v1_backend_proto,
		flamev1.File_flame_v1_shim_proto,
	}
	var got []string
	for _, fd := range files {
		if pkg := fd.Package(); pkg != "flame.v1" {
			t.Errorf("%s: package %q, want flame.v1", fd.Path(), pkg)
		}
		got = append(got, describeFile(fd)...)
	}

	missing, extra := diffSets(want, got)
	for _, l := range missing {
		t.Errorf("wire contract broken: compiled protos lack  %s", l)
	}
	for _, l := range extra {
		t.Errorf("wire contract broken: compiled protos add   %s", l)
	}
	if len(missing)+len(extra) > 0 {
		t.Log("if the change is intended, it must match upstream Flame; update testdata/wire.txt from the specification, not from the code")
	}
}

// TestWirePinDetectsChanges proves the comparison is not vacuous: altering
// one line of the table must be reported.
func TestWirePinDetectsChanges(t *testing.T) {
	got := describeFile(flamev1.File_flame_v1_types_proto)
	want := slices.Clone(got)
	i := slices.IndexFunc(want, func(l string) bool { return strings.HasPrefix(l, "field ") })
	if i < 0 {
		t.Fatal("types.proto has no fields")
	}
	want[i] = strings.Replace(want[i], " = ", " = 1", 1) // 3 becomes 13, and so on
	missing, extra := diffSets(want, got)
	if len(missing) != 1 || len(extra) != 1 {
		t.Fatalf("a renumbered field was not detected: missing=%v extra=%v", missing, extra)
	}
}

func readPinTable(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.Join(strings.Fields(sc.Text()), " ")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func describeFile(fd protoreflect.FileDescriptor) []string {
	var out []string
	enums := fd.Enums()
	for i := range enums.Len() {
		e := enums.Get(i)
		vals := e.Values()
		for j := range vals.Len() {
			v := vals.Get(j)
			out = append(out, fmt.Sprintf("enum %s.%s = %d", e.FullName(), v.Name(), v.Number()))
		}
	}
	msgs := fd.Messages()
	for i := range msgs.Len() {
		out = append(out, describeMessage(msgs.Get(i))...)
	}
	svcs := fd.Services()
	for i := range svcs.Len() {
		s := svcs.Get(i)
		methods := s.Methods()
		for j := range methods.Len() {
			m := methods.Get(j)
			out = append(out, fmt.Sprintf("rpc %s.%s(%s%s) returns (%s%s)", s.FullName(), m.Name(),
				streamPrefix(m.IsStreamingClient()), m.Input().FullName(),
				streamPrefix(m.IsStreamingServer()), m.Output().FullName()))
		}
	}
	return out
}

func describeMessage(md protoreflect.MessageDescriptor) []string {
	out := []string{"message " + string(md.FullName())}
	rr := md.ReservedRanges()
	for i := range rr.Len() {
		r := rr.Get(i)
		for n := r[0]; n < r[1]; n++ {
			out = append(out, fmt.Sprintf("reserved %s %d", md.FullName(), n))
		}
	}
	rn := md.ReservedNames()
	for i := range rn.Len() {
		out = append(out, fmt.Sprintf("reserved %s %q", md.FullName(), rn.Get(i)))
	}
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		l := fmt.Sprintf("field %s = %d %s", f.FullName(), f.Number(), fieldType(f))
		switch {
		case f.IsList():
			l += " repeated"
		case f.HasOptionalKeyword():
			l += " optional"
		}
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			l += " oneof " + string(o.Name())
		}
		out = append(out, l)
	}
	nested := md.Messages()
	for i := range nested.Len() {
		out = append(out, describeMessage(nested.Get(i))...)
	}
	return out
}

func fieldType(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(f.Message().FullName())
	case protoreflect.EnumKind:
		return string(f.Enum().FullName())
	default:
		return f.Kind().String()
	}
}

func streamPrefix(streaming bool) string {
	if streaming {
		return "stream "
	}
	return ""
}

// diffSets returns the lines of want absent from got and the lines of got
// absent from want, each sorted; duplicates count.
func diffSets(want, got []string) (missing, extra []string) {
	count := map[string]int{}
	for _, l := range want {
		count[l]++
	}
	for _, l := range got {
		count[l]--
	}
	for l, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, l)
		}
		for ; n < 0; n++ {
			extra = append(extra, l)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}
