package pickle

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func bigInt(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic("bad big int " + s)
	}
	return x
}

// equal is reflect.DeepEqual that also compares *big.Int by value and NaN
// floats as equal.
func equal(a, b any) bool {
	switch x := a.(type) {
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

type myString string

func TestMarshal_RoundTrip(t *testing.T) {
	big300 := new(big.Int).Lsh(big.NewInt(1), 8*300) // needs LONG4
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"zero", 0, int64(0)},
		{"int8 min", int8(math.MinInt8), int64(math.MinInt8)},
		{"uint8 max", uint8(255), int64(255)},
		{"256", 256, int64(256)},
		{"uint16 max", uint16(math.MaxUint16), int64(math.MaxUint16)},
		{"65536", int32(65536), int64(65536)},
		{"int32 min", int32(math.MinInt32), int64(math.MinInt32)},
		{"int32 max+1", int64(math.MaxInt32) + 1, int64(math.MaxInt32) + 1},
		{"int32 min-1", int64(math.MinInt32) - 1, int64(math.MinInt32) - 1},
		{"int64 max", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"int64 min", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint64 max", uint64(math.MaxUint64), bigInt("18446744073709551615")},
		{"uint 1<<63", uint(1 << 63), bigInt("9223372036854775808")},
		{"big fits int64", big.NewInt(-5), int64(-5)},
		{"big 2^64", bigInt("18446744073709551616"), bigInt("18446744073709551616")},
		{"big -2^64", bigInt("-18446744073709551616"), bigInt("-18446744073709551616")},
		{"big -2^63-1", bigInt("-9223372036854775809"), bigInt("-9223372036854775809")},
		{"big 2^2400", big300, big300},
		{"big -2^2400", new(big.Int).Neg(big300), new(big.Int).Neg(big300)},
		{"big.Int value", *big.NewInt(7), int64(7)},
		{"float64", 1.5, 1.5},
		{"float32", float32(0.25), 0.25},
		{"-inf", math.Inf(-1), math.Inf(-1)},
		{"nan", math.NaN(), math.NaN()},
		{"empty string", "", ""},
		{"unicode", "héllo ☃ 🎉", "héllo ☃ 🎉"},
		{"string 255", strings.Repeat("a", 255), strings.Repeat("a", 255)},
		{"string 256", strings.Repeat("a", 256), strings.Repeat("a", 256)},
		{"named string", myString("x"), "x"},
		{"empty bytes", []byte{}, []byte{}},
		{"nil bytes", []byte(nil), []byte{}},
		{"bytes 300", bytes.Repeat([]byte{0xff}, 300), bytes.Repeat([]byte{0xff}, 300)},
		{"empty list", []any{}, []any{}},
		{"nil list", []any(nil), []any{}},
		{"list", []any{1, "a", nil, []byte("b"), 2.5}, []any{int64(1), "a", nil, []byte("b"), 2.5}},
		{"typed slice", []string{"a", "b"}, []any{"a", "b"}},
		{"int slice", []int{1, -1}, []any{int64(1), int64(-1)}},
		{"empty dict", map[string]any{}, map[string]any{}},
		{"dict", map[string]any{"b": 1, "a": []any{true}}, map[string]any{"b": int64(1), "a": []any{true}}},
		{"typed map", map[string]int{"x": 1}, map[string]any{"x": int64(1)}},
		{"int keys", map[int]string{2: "b", 1: "a"}, map[any]any{int64(1): "a", int64(2): "b"}},
		{"mixed keys", map[any]any{"s": 1, 2: 2, nil: 3, true: 4, 1.5: 5},
			map[any]any{"s": int64(1), int64(2): int64(2), nil: int64(3), true: int64(4), 1.5: int64(5)}},
		{"any keys all strings", map[any]any{"a": 1}, map[string]any{"a": int64(1)}},
		{"nested", map[string]any{"l": []any{map[string]any{"x": []any{}}}}, map[string]any{"l": []any{map[string]any{"x": []any{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := Unmarshal(p)
			if err != nil {
				t.Fatalf("Unmarshal(%q): %v", p, err)
			}
			if !equal(got, tt.want) {
				t.Fatalf("round trip = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestMarshal_Deterministic(t *testing.T) {
	m := map[any]any{}
	for i := range 50 {
		m[i] = i
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	m[math.NaN()] = 1
	m[math.NaN()] = 2
	first, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("Marshal of the same map gave different bytes")
		}
	}
}

func TestMarshal_Errors(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"struct", struct{ A int }{1}, "cannot marshal Go type struct { A int }"},
		{"pointer", new(int), "cannot marshal Go type *int"},
		{"complex", complex(1, 2), "cannot marshal Go type complex128"},
		{"array", [2]int{}, "cannot marshal Go type [2]int"},
		{"nested chan", []any{make(chan int)}, "cannot marshal Go type chan int"},
		{"struct key", map[struct{}]int{{}: 1}, "dict key of Go type struct {}"},
		{"invalid utf8", "\xff", "not valid UTF-8"},
		{"invalid utf8 key", map[string]any{"\xff": 1}, "not valid UTF-8"},
		{"nil big", (*big.Int)(nil), "nil *big.Int"},
		{"cycle", cyclic, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Marshal error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAppendBytes(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 70000} {
		b := bytes.Repeat([]byte{'z'}, n)
		got := AppendBytes([]byte("pre"), b)
		if !bytes.HasPrefix(got, []byte("pre")) {
			t.Fatalf("n=%d: dst prefix lost", n)
		}
		want, err := Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[3:], want) {
			t.Fatalf("n=%d: AppendBytes differs from Marshal", n)
		}
		streamed := append(append(BytesHeader(n), b...), BytesTrailer()...)
		if !bytes.Equal(streamed, want) {
			t.Fatalf("n=%d: header+payload+trailer differs from Marshal", n)
		}
		v, err := Unmarshal(got[3:])
		if err != nil || !bytes.Equal(v.([]byte), b) {
			t.Fatalf("n=%d: Unmarshal = %v, %v", n, v, err)
		}
	}
}

func TestUnmarshal_BytesAliasInput(t *testing.T) {
	p := AppendBytes(nil, []byte("hello"))
	v, err := Unmarshal(p)
	if err != nil {
		t.Fatal(err)
	}
	b := v.([]byte)
	if cap(b) != len(b) {
		t.Fatalf("cap = %d, want %d so appends cannot overwrite the input", cap(b), len(b))
	}
	if &b[0] != &p[4] {
		t.Fatal("bytes were copied; want a sub-slice of the input")
	}
}

// Pickles produced by CPython 3.11 pickle.dumps, so these run without Python.
func TestUnmarshal_CPython(t *testing.T) {
	shared := []any{int64(1)}
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"p2 bytes", "\x80\x02c_codecs\x0aencode\x0aq\x00X\x04\x00\x00\x00ab\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.", []byte("ab\xff")},
		{"p2 empty bytes", "\x80\x02c__builtin__\x0abytes\x0aq\x00)Rq\x01.", []byte{}},
		{"p2 set", "\x80\x02c__builtin__\x0aset\x0aq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.", []any{int64(1), int64(2)}},
		{"p2 bytearray", "\x80\x02c__builtin__\x0abytearray\x0aq\x00c_codecs\x0aencode\x0aq\x01X\x01\x00\x00\x00xq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.", []byte("x")},
		{"p3 frozenset", "\x80\x03cbuiltins\x0afrozenset\x0aq\x00]q\x01K\x03a\x85q\x02Rq\x03.", []any{int64(3)}},
		{"p3 bytearray empty", "\x80\x03cbuiltins\x0abytearray\x0aq\x00)Rq\x01.", []byte{}},
		{"p4 bytearray", "\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x09bytearray\x94\x93\x94C\x02xy\x94\x85\x94R\x94.", []byte("xy")},
		{"p5 bytearray", "\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x96\x02\x00\x00\x00\x00\x00\x00\x00xy\x94.", []byte("xy")},
		{"p5 nested", "\x80\x05\x95.\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01K\x02K\x03\x86\x94}\x94\x8c\x01b\x94Nse\x8c\x01c\x94\x88\x89G?\xf8\x00\x00\x00\x00\x00\x00\x87\x94u.",
			map[string]any{"a": []any{int64(1), []any{int64(2), int64(3)}, map[string]any{"b": nil}}, "c": []any{true, false, 1.5}}},
		{"p2 big", "\x80\x02]q\x00(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01\x8a\x09\xff\xff\xff\xff\xff\xff\xff\x7f\xffJ\xff\xff\xff\xffM\x00\x01J\x7f\xff\xff\xffJ\x00\x00\x01\x00\x8a\x05\x00\x00\x00\x80\x00e.",
			[]any{bigInt("18446744073709551616"), bigInt("-9223372036854775809"), int64(-1), int64(256), int64(-129), int64(65536), int64(1 << 31)}},
		{"p5 shared", "\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94K\x01ah\x01e.", []any{shared, shared}},
		{"p2 shared", "\x80\x02]q\x00(]q\x01X\x01\x00\x00\x00xq\x02ah\x01e.", []any{[]any{"x"}, []any{"x"}}},
		{"p5 non-str keys", "\x80\x05\x95\x15\x00\x00\x00\x00\x00\x00\x00}\x94(K\x01\x8c\x01a\x94NG@\x04\x00\x00\x00\x00\x00\x00u.", map[any]any{int64(1): "a", nil: 2.5}},
		{"pop of empty mark pops the mark", "N(0.", nil},
		{"p5 unicode", "\x80\x05\x95\x13\x00\x00\x00\x00\x00\x00\x00\x8c\x0fh\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x8e\x89\x94.", "héllo ☃ 🎉"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !equal(got, tt.want) {
				t.Fatalf("Unmarshal = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestUnmarshal_PythonObjects(t *testing.T) {
	tests := []struct {
		name, in, op, qual string
	}{
		{"p2 OrderedDict", "\x80\x02ccollections\x0aOrderedDict\x0aq\x00)Rq\x01.", "GLOBAL", "collections.OrderedDict"},
		{"p5 OrderedDict", "\x80\x05\x95\"\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.", "STACK_GLOBAL", "collections.OrderedDict"},
		{"p5 class", "\x80\x05\x95\x12\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01C\x94\x93\x94.", "STACK_GLOBAL", "__main__.C"},
		{"p2 os.system", "\x80\x02cposix\x0asystem\x0aq\x00.", "GLOBAL", "posix.system"},
		{"p5 os.system", "\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.", "STACK_GLOBAL", "posix.system"},
		{"safe global alone", "\x80\x02c__builtin__\x0aset\x0a.", "GLOBAL", "__builtin__.set"},
		{"safe global bad args", "\x80\x02c__builtin__\x0aset\x0aK\x01\x85R.", "REDUCE", "__builtin__.set"},
		{"codecs other encoding", "\x80\x04c_codecs\x0aencode\x0a\x8c\x01a\x8c\x05utf-8\x86R.", "REDUCE", "_codecs.encode"},
		{"reduce non-global", "\x80\x04N)R.", "REDUCE", ""},
		{"build", "\x80\x04}}b.", "BUILD", ""},
		{"newobj", "\x80\x04N)\x81.", "NEWOBJ", ""},
		{"inst", "\x80\x04(ios\x0asystem\x0a.", "INST", "os.system"},
		{"persid", "\x80\x04Pid\x0a.", "PERSID", ""},
		{"next buffer", "\x80\x05\x97.", "NEXT_BUFFER", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.in))
			var oe *ObjectError
			if !errors.As(err, &oe) {
				t.Fatalf("Unmarshal error = %v, want *ObjectError", err)
			}
			if oe.Op != tt.op || oe.Name != tt.qual {
				t.Fatalf("ObjectError{Op: %q, Name: %q}, want {%q, %q}", oe.Op, oe.Name, tt.op, tt.qual)
			}
			if !strings.Contains(err.Error(), "Python object that Go cannot read") {
				t.Fatalf("message %q does not explain the problem", err)
			}
		})
	}
}

func TestUnmarshal_Malformed(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no STOP"},
		{"no stop", "\x80\x04N", "no STOP"},
		{"stop on empty stack", ".", "stack underflow"},
		{"trailing", "N.x", "1 bytes after STOP"},
		{"protocol 6", "\x80\x06N.", "unsupported protocol 6"},
		{"truncated bytes8", "\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", "truncated"},
		{"truncated frame", "\x95\x10\x00\x00\x00\x00\x00\x00\x00N.", "truncated"},
		{"negative long4", "\x8b\xff\xff\xff\xff.", "negative LONG4"},
		{"appends without mark", "]e.", "without MARK"},
		{"append to dict", "}Na.", "APPEND on dict"},
		{"setitem on list", "]NNs.", "SETITEM on list"},
		{"odd setitems", "}(Nu.", "odd number"},
		{"pop empty stack", "0.", "stack underflow"},
		{"tuple2 below mark", "N(N\x86.", "stack underflow"},
		{"append below mark", "](Na.", "stack underflow"},
		{"stop below mark", "N(0(.", "stack underflow"},
		{"missing memo", "h\x05.", "memo key 5 not found"},
		{"bad PUT", "Np-1\x0a.", "bad PUT index"},
		{"unknown opcode", "\xff.", "unknown opcode 0xff"},
		{"protocol 0 int", "I1\x0a.", "protocol 0/1 opcode INT"},
		{"recursive list", "\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.", "recursive list"},
		{"tuple key", "\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00}\x94K\x01K\x02\x86\x94K\x03s.", "dict key of Python type tuple"},
		{"bytes key", "\x80\x05\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94C\x01k\x94K\x03s.", "dict key of Python type bytes"},
		{"list key", "}]Ns.", "dict key of Python type list"},
		{"codecs non-latin1", "c_codecs\x0aencode\x0a\x8c\x02\xc4\x80\x8c\x06latin1\x86R.", "not latin-1"},
		{"stack global non-str", "NN\x93.", "STACK_GLOBAL needs two str"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Unmarshal([]byte(tt.in))
			if err == nil {
				t.Fatalf("Unmarshal = %#v, want error containing %q", v, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Unmarshal error = %q, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestUnmarshal_EveryTruncation(t *testing.T) {
	p, err := Marshal(map[string]any{"a": []any{1, 1 << 40, "xyz", []byte("q"), 2.5, nil, true}, "b": bigInt("1" + strings.Repeat("0", 40))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(p) {
		if _, err := Unmarshal(p[:i]); err == nil {
			t.Fatalf("Unmarshal of %d/%d bytes succeeded", i, len(p))
		}
	}
}

func TestUnmarshal_DeepNesting(t *testing.T) {
	const n = maxDepth + 10
	p := []byte{opProto, 4}
	for range n {
		p = append(p, opEmptyList)
	}
	for range n - 1 {
		p = append(p, opAppend)
	}
	p = append(p, opStop)
	if _, err := Unmarshal(p); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Fatalf("Unmarshal error = %v, want nesting error", err)
	}
}

func TestUnmarshal_SharedIsLinear(t *testing.T) {
	// t0 = (); t_{i+1} = (t_i, t_i): 2^60 leaves if shared tuples were
	// expanded separately.
	p := []byte{opProto, 4, opEmptyTuple}
	for range 60 {
		p = append(p, opDup, opTuple2)
	}
	p = append(p, opStop)
	v, err := Unmarshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.([]any)) != 2 {
		t.Fatalf("got %#v", v)
	}
}

func TestEnvelope(t *testing.T) {
	enc, err := Encode(map[string]any{"k": []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := Decode(enc)
	if err != nil || !ok {
		t.Fatalf("Decode = %v, %v, %v", v, ok, err)
	}
	if !equal(v, map[string]any{"k": []byte("v")}) {
		t.Fatalf("Decode = %#v", v)
	}

	eb := EncodeBytes([]byte("payload"))
	if !bytes.HasPrefix(eb, []byte(Prefix)) {
		t.Fatalf("EncodeBytes = %q, want prefix %q", eb, Prefix)
	}
	if cap(eb) != len(eb) {
		t.Fatalf("EncodeBytes allocated %d for %d bytes", cap(eb), len(eb))
	}
	v, ok, err = Decode(eb)
	if err != nil || !ok || !bytes.Equal(v.([]byte), []byte("payload")) {
		t.Fatalf("Decode(EncodeBytes) = %v, %v, %v", v, ok, err)
	}

	v, ok, err = Decode([]byte("raw bytes"))
	if v != nil || ok || err != nil {
		t.Fatalf("Decode(no prefix) = %v, %v, %v; want nil, false, nil", v, ok, err)
	}

	_, ok, err = Decode([]byte(Prefix + "garbage"))
	if !ok || err == nil {
		t.Fatalf("Decode(prefix + garbage) = ok %v, err %v; want ok and an error", ok, err)
	}
}
