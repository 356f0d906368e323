package pickle

import (
	"bytes"
	"testing"
)

func FuzzUnmarshal(f *testing.F) {
	for _, v := range []any{
		nil, true, int64(-1), int64(1 << 40), uint64(1 << 63), bigInt("-1" + "000000000000000000000000"),
		1.5, "héllo", []byte("bytes"), []any{1, "a", []any{}}, map[string]any{"k": []byte("v")},
		map[any]any{1: 2, nil: "x"},
	} {
		p, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add(AppendBytes(nil, bytes.Repeat([]byte("x"), 300)))
	// CPython output: protocol 2 bytes and set, protocol 4 bytearray,
	// protocol 5 nested dict, shared list and a class reference.
	for _, s := range []string{
		"\x80\x02c_codecs\x0aencode\x0aq\x00X\x04\x00\x00\x00ab\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.",
		"\x80\x02c__builtin__\x0aset\x0aq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.",
		"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x09bytearray\x94\x93\x94C\x02xy\x94\x85\x94R\x94.",
		"\x80\x05\x95.\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01K\x02K\x03\x86\x94}\x94\x8c\x01b\x94Nse\x8c\x01c\x94\x88\x89G?\xf8\x00\x00\x00\x00\x00\x00\x87\x94u.",
		"\x80\x05\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94K\x01ah\x01e.",
		"\x80\x05\x95\x12\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x94\x8c\x01C\x94\x93\x94.",
		"\x80\x05\x8f\x94(K\x01K\x02\x90.",
		"\x80\x04(K\x01\x91.",
		"(K\x01K\x02dp0\x0ag0\x0a0.",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			return
		}
		// Shared references decode to shared Go values, which Marshal
		// writes out in full: skip values that expand too much.
		if budget := 100000; !fewerNodes(v, &budget) {
			return
		}
		// Whatever decodes must re-encode (unless it holds text that is
		// not UTF-8 or a float NaN in a dict key), and re-encoding must
		// be a fixed point.
		p1, err := Marshal(v)
		if err != nil {
			return
		}
		v2, err := Unmarshal(p1)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(v)) failed: %v\nv = %#v", err, v)
		}
		p2, err := Marshal(v2)
		if err != nil {
			t.Fatalf("second Marshal failed: %v", err)
		}
		if !bytes.Equal(p1, p2) {
			t.Fatalf("Marshal(Unmarshal(Marshal(v))) != Marshal(v)\nv = %#v", v)
		}
	})
}

// fewerNodes reports whether v has at most *budget nodes, counting shared
// values each time they are reached.
func fewerNodes(v any, budget *int) bool {
	*budget--
	if *budget < 0 {
		return false
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !fewerNodes(e, budget) {
				return false
			}
		}
	case map[string]any:
		for _, e := range x {
			if !fewerNodes(e, budget) {
				return false
			}
		}
	case map[any]any:
		for _, e := range x {
			if !fewerNodes(e, budget) {
				return false
			}
		}
	}
	return true
}

func BenchmarkAppendBytes(b *testing.B) {
	payload := bytes.Repeat([]byte{0xa5}, 1<<20)
	dst := make([]byte, 0, len(payload)+64)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendBytes(dst[:0], payload)
	}
}

func BenchmarkUnmarshalBytes(b *testing.B) {
	p := AppendBytes(nil, bytes.Repeat([]byte{0xa5}, 1<<20))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := Unmarshal(p)
		if err != nil || len(v.([]byte)) != 1<<20 {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopy is the memcpy baseline for the two benchmarks above.
func BenchmarkCopy(b *testing.B) {
	payload := bytes.Repeat([]byte{0xa5}, 1<<20)
	dst := make([]byte, len(payload))
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		copy(dst, payload)
	}
}
