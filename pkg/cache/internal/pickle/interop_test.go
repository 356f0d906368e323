package pickle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const systemPython = "/usr/bin/python3"

// python returns the path of Debian's Python with a working pickle module,
// or skips the test.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Skipf("interop test needs %s: %v", systemPython, err)
	}
	if out, err := exec.Command(systemPython, "-c", "import pickle").CombinedOutput(); err != nil {
		t.Skipf("interop test needs the pickle module in %s: %v: %s", systemPython, err, out)
	}
	return systemPython
}

// runPython runs script with input on stdin and returns stdout.
func runPython(t *testing.T, py, script string, input []byte) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), py, "-c", script)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// pyValues pairs a Python expression with the Go value Unmarshal must give
// for its pickle.
var pyValues = []struct {
	expr string
	want any
}{
	{"None", nil},
	{"True", true},
	{"False", false},
	{"0", int64(0)},
	{"-1", int64(-1)},
	{"255", int64(255)},
	{"256", int64(256)},
	{"65535", int64(65535)},
	{"65536", int64(65536)},
	{"-129", int64(-129)},
	{"2**31-1", int64(math.MaxInt32)},
	{"2**31", int64(math.MaxInt32) + 1},
	{"-2**31", int64(math.MinInt32)},
	{"-2**31-1", int64(math.MinInt32) - 1},
	{"2**63-1", int64(math.MaxInt64)},
	{"-2**63", int64(math.MinInt64)},
	{"2**63", bigInt("9223372036854775808")},
	{"-2**63-1", bigInt("-9223372036854775809")},
	{"2**64", bigInt("18446744073709551616")},
	{"-(10**100)", bigInt("-1" + strings.Repeat("0", 100))},
	{"2**(8*300)", new(big.Int).Lsh(big.NewInt(1), 8*300)},
	{"1.5", 1.5},
	{"-0.0", math.Copysign(0, -1)},
	{"float('inf')", math.Inf(1)},
	{"float('nan')", math.NaN()},
	{"''", ""},
	{"'héllo ☃ 🎉'", "héllo ☃ 🎉"},
	{"'x'*300", strings.Repeat("x", 300)},
	{"'y'*70000", strings.Repeat("y", 70000)},
	{"b''", []byte{}},
	{"b'\\x00\\xff'", []byte{0, 0xff}},
	{"bytes(range(256))*2", bytes.Repeat(byteRange(), 2)},
	{"b'z'*70000", bytes.Repeat([]byte("z"), 70000)},
	{"bytearray(b'ab')", []byte("ab")},
	{"bytearray()", []byte{}},
	{"[]", []any{}},
	{"()", []any{}},
	{"{}", map[string]any{}},
	{"set()", []any{}},
	{"frozenset()", []any{}},
	{"{1, 2}", []any{int64(1), int64(2)}},
	{"frozenset({'a'})", []any{"a"}},
	{"(1,)", []any{int64(1)}},
	{"(1, 2)", []any{int64(1), int64(2)}},
	{"(1, 2, 3)", []any{int64(1), int64(2), int64(3)}},
	{"(1, 2, 3, 4)", []any{int64(1), int64(2), int64(3), int64(4)}},
	{"[1, [2, [3, []]]]", []any{int64(1), []any{int64(2), []any{int64(3), []any{}}}}},
	{"{'a': {'b': [1, 2.5, None]}, 'c': ()}", map[string]any{"a": map[string]any{"b": []any{int64(1), 2.5, nil}}, "c": []any{}}},
	{"{1: 'a', None: True, 2.5: 'f', 'k': b'v', False: 0}", map[any]any{int64(1): "a", nil: true, 2.5: "f", "k": []byte("v"), false: int64(0)}},
	{"[[1]*2]*3", []any{[]any{int64(1), int64(1)}, []any{int64(1), int64(1)}, []any{int64(1), int64(1)}}},
	{"list(range(2500))", intRange(2500)},
	{"{str(i): i for i in range(1200)}", strIntMap(1200)},
	{"[b'q'*70000, 'r'*70000, b'q'*70000]", []any{bytes.Repeat([]byte("q"), 70000), strings.Repeat("r", 70000), bytes.Repeat([]byte("q"), 70000)}},
}

func byteRange() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func intRange(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

func strIntMap(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[strconv.Itoa(i)] = int64(i)
	}
	return m
}

// TestInterop_PythonToGo checks that Unmarshal reads what CPython's pickle
// writes at protocols 2 to 5 and at its default protocol.
func TestInterop_PythonToGo(t *testing.T) {
	py := python(t)
	exprs := make([]string, len(pyValues))
	for i, v := range pyValues {
		exprs[i] = v.expr
	}
	in, err := json.Marshal(exprs)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, pickle, sys
out = []
for expr in json.load(sys.stdin):
    v = eval(expr)
    row = {str(p): pickle.dumps(v, protocol=p).hex() for p in (2, 3, 4, 5)}
    row["default"] = pickle.dumps(v).hex()
    out.append(row)
json.dump(out, sys.stdout)
`
	var rows []map[string]string
	if err := json.Unmarshal(runPython(t, py, script, in), &rows); err != nil {
		t.Fatal(err)
	}
	for i, v := range pyValues {
		for _, proto := range []string{"2", "3", "4", "5", "default"} {
			t.Run(fmt.Sprintf("%s/protocol=%s", v.expr, proto), func(t *testing.T) {
				p, err := hex.DecodeString(rows[i][proto])
				if err != nil {
					t.Fatal(err)
				}
				got, err := Unmarshal(p)
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				if !equal(got, v.want) {
					t.Fatalf("Unmarshal = %s, want %s", short(got), short(v.want))
				}
				if f, ok := v.want.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
					t.Fatalf("sign of %v lost", f)
				}
			})
		}
	}
}

func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// TestInterop_GoToPython checks that Python's pickle.loads gives the
// expected values for Marshal, AppendBytes, BytesHeader/Trailer, Encode and
// EncodeBytes output. A flamepy-style loader strips the FLM\x00 prefix.
func TestInterop_GoToPython(t *testing.T) {
	py := python(t)
	large := bytes.Repeat([]byte{0, 1, 2, 0xff}, 20000) // > 64 KiB
	marshal := func(v any) func() ([]byte, error) { return func() ([]byte, error) { return Marshal(v) } }
	tests := []struct {
		name   string
		encode func() ([]byte, error)
		expr   string
	}{
		{"none", marshal(nil), "None"},
		{"bools", marshal([]bool{true, false}), "[True, False]"},
		{"ints", marshal([]any{0, 255, 256, 65535, 65536, -1, -129, int64(math.MinInt32), int64(math.MaxInt32) + 1, int64(math.MinInt64), int64(math.MaxInt64), uint64(math.MaxUint64), uint8(7)}),
			"[0, 255, 256, 65535, 65536, -1, -129, -2**31, 2**31, -2**63, 2**63-1, 2**64-1, 7]"},
		{"big ints", marshal([]*big.Int{bigInt("-1" + strings.Repeat("0", 100)), new(big.Int).Lsh(big.NewInt(1), 8*300), new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 8*300)), big.NewInt(-128), bigInt("-9223372036854775809")}),
			"[-(10**100), 2**(8*300), -2**(8*300), -128, -2**63-1]"},
		{"floats", marshal([]any{1.5, float32(0.25), math.Inf(-1), math.Copysign(0, -1)}), "[1.5, 0.25, float('-inf'), -0.0]"},
		{"nan", marshal(math.NaN()), "float('nan')"},
		{"strings", marshal([]string{"", "héllo ☃ 🎉", strings.Repeat("x", 300), strings.Repeat("y", 70000)}), "['', 'héllo ☃ 🎉', 'x'*300, 'y'*70000]"},
		{"bytes", marshal([][]byte{{}, {0, 0xff}, bytes.Repeat([]byte("b"), 300), large}), "[b'', b'\\x00\\xff', b'b'*300, b'\\x00\\x01\\x02\\xff'*20000]"},
		{"empty containers", marshal([]any{[]any{}, map[string]any{}, map[int]int{}}), "[[], {}, {}]"},
		{"nested", marshal(map[string]any{"a": map[string]any{"b": []any{1, 2.5, nil}}, "c": []any{}}), "{'a': {'b': [1, 2.5, None]}, 'c': []}"},
		{"mixed keys", marshal(map[any]any{1: "a", nil: true, 2.5: "f", "k": []byte("v"), false: 0}), "{1: 'a', None: True, 2.5: 'f', 'k': b'v', False: 0}"},
		{"long list", marshal(intRange(2500)), "list(range(2500))"},
		{"AppendBytes small", func() ([]byte, error) { return AppendBytes(nil, []byte("abc")), nil }, "b'abc'"},
		{"AppendBytes 300", func() ([]byte, error) { return AppendBytes(nil, bytes.Repeat([]byte("b"), 300)), nil }, "b'b'*300"},
		{"AppendBytes large", func() ([]byte, error) { return AppendBytes(nil, large), nil }, "b'\\x00\\x01\\x02\\xff'*20000"},
		{"streamed", func() ([]byte, error) {
			return append(append(BytesHeader(len(large)), large...), BytesTrailer()...), nil
		}, "b'\\x00\\x01\\x02\\xff'*20000"},
		{"EncodeBytes", func() ([]byte, error) { return EncodeBytes([]byte("payload")), nil }, "b'payload'"},
		{"Encode", func() ([]byte, error) { return Encode(map[string]any{"x": []any{1, "y"}}) }, "{'x': [1, 'y']}"},
	}
	dir := t.TempDir()
	type job struct{ File, Expr string }
	jobs := make([]job, len(tests))
	for i, tt := range tests {
		p, err := tt.encode()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		jobs[i] = job{filepath.Join(dir, fmt.Sprintf("%d.pkl", i)), tt.expr}
		if err := os.WriteFile(jobs[i].File, p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, math, pickle, sys

def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b

out = []
for job in json.load(sys.stdin):
    data = open(job["File"], "rb").read()
    if data.startswith(b"FLM\x00"):  # as flamepy does
        data = data[4:]
    try:
        got = pickle.loads(data)
    except Exception as e:
        out.append("loads failed: %r" % e)
        continue
    want = eval(job["Expr"])
    out.append("" if same(got, want) else "got %.200r" % (got,))
json.dump(out, sys.stdout)
`
	var results []string
	if err := json.Unmarshal(runPython(t, py, script, in), &results); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if results[i] != "" {
			t.Errorf("%s: python %s, want %s", tt.name, results[i], tt.expr)
		}
	}
}

// TestInterop_CloudpickleMatchesPickle checks the premise of this package:
// for plain data, cloudpickle.dumps (what flamepy uses) writes the same bytes
// as pickle.dumps at cloudpickle's default protocol.
func TestInterop_CloudpickleMatchesPickle(t *testing.T) {
	py := python(t)
	if err := exec.Command(py, "-c", "import cloudpickle").Run(); err != nil {
		t.Skipf("cloudpickle is not importable by %s (%v); install python3-cloudpickle to run this test", py, err)
	}
	exprs := make([]string, len(pyValues))
	for i, v := range pyValues {
		exprs[i] = v.expr
	}
	in, err := json.Marshal(exprs)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import cloudpickle, json, pickle, sys
out = []
for expr in json.load(sys.stdin):
    v = eval(expr)
    c = cloudpickle.dumps(v)
    out.append({"same": c == pickle.dumps(v, protocol=cloudpickle.DEFAULT_PROTOCOL), "cloud": c.hex()})
json.dump(out, sys.stdout)
`
	var rows []struct {
		Same  bool
		Cloud string
	}
	if err := json.Unmarshal(runPython(t, py, script, in), &rows); err != nil {
		t.Fatal(err)
	}
	for i, v := range pyValues {
		if !rows[i].Same {
			t.Errorf("%s: cloudpickle.dumps differs from pickle.dumps", v.expr)
		}
		p, err := hex.DecodeString(rows[i].Cloud)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(p)
		if err != nil || !equal(got, v.want) {
			t.Errorf("%s: Unmarshal(cloudpickle.dumps) = %s, %v", v.expr, short(got), err)
		}
	}
}
