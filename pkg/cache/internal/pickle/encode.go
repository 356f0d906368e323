package pickle

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds nesting on both encode and decode, so a cyclic Go value or
// a hostile pickle ends in an error instead of exhausting the stack. CPython's
// own pickler stops near 1000 levels.
const maxDepth = 10000

// Marshal returns a pickle of v that Python's pickle.loads (and therefore
// cloudpickle.loads) turns into the corresponding Python value:
//
//	nil                        -> None
//	bool                       -> bool
//	int, int8..int64, uint..uint64, *big.Int, big.Int -> int
//	float32, float64           -> float
//	string (valid UTF-8)       -> str
//	[]byte (any byte slice)    -> bytes
//	other slices               -> list
//	maps with string, integer, float or bool keys (or interface keys holding those) -> dict
//
// Named types are accepted by their kind. Dict keys are written in sorted
// order so equal maps give equal bytes. Any other type, including pointers
// (other than *big.Int), structs, arrays, channels and complex numbers,
// returns an error naming the Go type.
func Marshal(v any) ([]byte, error) {
	e := encoder{buf: make([]byte, 0, 64)}
	e.buf = append(e.buf, opProto, writeProtocol)
	if err := e.encode(v); err != nil {
		return nil, err
	}
	e.buf = append(e.buf, opStop)
	return e.buf, nil
}

// AppendBytes appends a complete pickle of the Python bytes object b to dst
// and returns the extended slice. It copies b once and allocates at most once
// (to grow dst); it is the hot path for large payloads.
func AppendBytes(dst, b []byte) []byte {
	dst = slices.Grow(dst, bytesHeaderLen(len(b))+len(b)+1)
	dst = appendBytesHeader(dst, len(b))
	dst = append(dst, b...)
	return append(dst, opStop)
}

// BytesHeader returns the bytes that precede an n-byte payload in a pickle of
// a Python bytes object. BytesHeader(n), the payload and BytesTrailer()
// written back to back are a complete pickle equal to AppendBytes(nil,
// payload), so a caller can stream a large payload without concatenating it.
// BytesHeader panics if n is negative.
func BytesHeader(n int) []byte {
	if n < 0 {
		panic("pickle: BytesHeader with negative length")
	}
	return appendBytesHeader(make([]byte, 0, bytesHeaderLen(n)), n)
}

// BytesTrailer returns the bytes that follow the payload after [BytesHeader]:
// the STOP opcode.
func BytesTrailer() []byte { return []byte{opStop} }

func bytesHeaderLen(n int) int {
	switch {
	case n < 256:
		return 2 + 2
	case uint64(n) <= math.MaxUint32:
		return 2 + 5
	default:
		return 2 + 9
	}
}

func appendBytesHeader(dst []byte, n int) []byte {
	dst = append(dst, opProto, writeProtocol)
	return appendBytesOp(dst, n)
}

func appendBytesOp(dst []byte, n int) []byte {
	switch {
	case n < 256:
		return append(dst, opShortBinBytes, byte(n))
	case uint64(n) <= math.MaxUint32:
		return binary.LittleEndian.AppendUint32(append(dst, opBinBytes), uint32(n))
	default:
		return binary.LittleEndian.AppendUint64(append(dst, opBinBytes8), uint64(n))
	}
}

type encoder struct {
	buf   []byte
	depth int
}

func (e *encoder) encode(v any) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, opNone)
	case bool:
		e.encodeBool(x)
	case int:
		e.encodeInt(int64(x))
	case int8:
		e.encodeInt(int64(x))
	case int16:
		e.encodeInt(int64(x))
	case int32:
		e.encodeInt(int64(x))
	case int64:
		e.encodeInt(x)
	case uint:
		e.encodeUint(uint64(x))
	case uint8:
		e.encodeUint(uint64(x))
	case uint16:
		e.encodeUint(uint64(x))
	case uint32:
		e.encodeUint(uint64(x))
	case uint64:
		e.encodeUint(x)
	case *big.Int:
		if x == nil {
			return fmt.Errorf("pickle: cannot marshal nil *big.Int")
		}
		e.encodeBig(x)
	case big.Int:
		e.encodeBig(&x)
	case float32:
		e.encodeFloat(float64(x))
	case float64:
		e.encodeFloat(x)
	case string:
		return e.encodeString(x)
	case []byte:
		e.encodeBytes(x)
	case []any:
		return e.encodeList(len(x), func(i int) any { return x[i] })
	case map[string]any:
		return e.encodeStringMap(x)
	default:
		return e.encodeReflect(reflect.ValueOf(v))
	}
	return nil
}

func (e *encoder) encodeBool(b bool) {
	if b {
		e.buf = append(e.buf, opNewTrue)
	} else {
		e.buf = append(e.buf, opNewFalse)
	}
}

func (e *encoder) encodeInt(x int64) {
	switch {
	case x >= 0 && x <= math.MaxUint8:
		e.buf = append(e.buf, opBinInt1, byte(x))
	case x >= 0 && x <= math.MaxUint16:
		e.buf = binary.LittleEndian.AppendUint16(append(e.buf, opBinInt2), uint16(x))
	case x >= math.MinInt32 && x <= math.MaxInt32:
		e.buf = binary.LittleEndian.AppendUint32(append(e.buf, opBinInt), uint32(int32(x)))
	default:
		// Minimal little-endian two's complement, as pickle.encode_long.
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(x))
		n := 8
		for n > 1 && ((b[n-1] == 0 && b[n-2]&0x80 == 0) || (b[n-1] == 0xff && b[n-2]&0x80 != 0)) {
			n--
		}
		e.buf = append(append(e.buf, opLong1, byte(n)), b[:n]...)
	}
}

func (e *encoder) encodeUint(x uint64) {
	if x <= math.MaxInt64 {
		e.encodeInt(int64(x))
		return
	}
	// The top bit is set, so a zero sign byte follows the eight value bytes.
	e.buf = append(e.buf, opLong1, 9)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, x)
	e.buf = append(e.buf, 0)
}

func (e *encoder) encodeBig(x *big.Int) {
	if x.IsInt64() {
		e.encodeInt(x.Int64())
		return
	}
	// n bytes hold x in two's complement iff -2^(8n-1) <= x < 2^(8n-1).
	var n int
	if x.Sign() >= 0 {
		n = x.BitLen()/8 + 1
	} else {
		n = new(big.Int).Not(x).BitLen()/8 + 1
	}
	b := make([]byte, n)
	if x.Sign() >= 0 {
		x.FillBytes(b)
	} else {
		mod := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
		mod.Add(mod, x).FillBytes(b)
	}
	slices.Reverse(b)
	if n < 256 {
		e.buf = append(e.buf, opLong1, byte(n))
	} else {
		e.buf = binary.LittleEndian.AppendUint32(append(e.buf, opLong4), uint32(n))
	}
	e.buf = append(e.buf, b...)
}

func (e *encoder) encodeFloat(f float64) {
	e.buf = binary.BigEndian.AppendUint64(append(e.buf, opBinFloat), math.Float64bits(f))
}

func (e *encoder) encodeString(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("pickle: cannot marshal string that is not valid UTF-8 (Python str must be text; use []byte for bytes)")
	}
	n := len(s)
	switch {
	case n < 256:
		e.buf = append(e.buf, opShortBinUnicode, byte(n))
	case uint64(n) <= math.MaxUint32:
		e.buf = binary.LittleEndian.AppendUint32(append(e.buf, opBinUnicode), uint32(n))
	default:
		e.buf = binary.LittleEndian.AppendUint64(append(e.buf, opBinUnicode8), uint64(n))
	}
	e.buf = append(e.buf, s...)
	return nil
}

func (e *encoder) encodeBytes(b []byte) {
	e.buf = appendBytesOp(e.buf, len(b))
	e.buf = append(e.buf, b...)
}

func (e *encoder) enter() error {
	e.depth++
	if e.depth > maxDepth {
		return fmt.Errorf("pickle: cannot marshal value nested more than %d levels (cyclic value?)", maxDepth)
	}
	return nil
}

func (e *encoder) encodeList(n int, item func(int) any) error {
	if err := e.enter(); err != nil {
		return err
	}
	e.buf = append(e.buf, opEmptyList)
	if n > 0 {
		e.buf = append(e.buf, opMark)
		for i := range n {
			if err := e.encode(item(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opAppends)
	}
	e.depth--
	return nil
}

func (e *encoder) encodeStringMap(m map[string]any) error {
	if err := e.enter(); err != nil {
		return err
	}
	e.buf = append(e.buf, opEmptyDict)
	if len(m) > 0 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.buf = append(e.buf, opMark)
		for _, k := range keys {
			if err := e.encodeString(k); err != nil {
				return err
			}
			if err := e.encode(m[k]); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opSetItems)
	}
	e.depth--
	return nil
}

func (e *encoder) encodeReflect(rv reflect.Value) error {
	switch rv.Kind() {
	case reflect.Bool:
		e.encodeBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.encodeInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.encodeUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		e.encodeFloat(rv.Float())
	case reflect.String:
		return e.encodeString(rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			e.encodeBytes(rv.Bytes())
			return nil
		}
		return e.encodeList(rv.Len(), func(i int) any { return rv.Index(i).Interface() })
	case reflect.Map:
		return e.encodeMap(rv)
	}
	return fmt.Errorf("pickle: cannot marshal Go type %s", rv.Type())
}

// mapEntry is one encoded key/value pair ready for sorting: rank orders key
// kinds, the typed fields order keys within a rank, and enc (the encoded
// pair) breaks the remaining ties, such as NaN keys.
type mapEntry struct {
	rank int
	i    int64
	u    uint64
	f    float64
	s    string
	enc  []byte
}

func (e *encoder) encodeMap(rv reflect.Value) error {
	if err := e.enter(); err != nil {
		return err
	}
	entries := make([]mapEntry, 0, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		k := iter.Key()
		if k.Kind() == reflect.Interface {
			k = k.Elem()
		}
		var me mapEntry
		var kv any
		if k.IsValid() {
			switch k.Kind() {
			case reflect.Bool:
				me.rank = 1
				if k.Bool() {
					me.i = 1
				}
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				me.rank, me.i = 2, k.Int()
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				me.rank, me.u = 3, k.Uint()
			case reflect.Float32, reflect.Float64:
				me.rank, me.f = 4, k.Float()
			case reflect.String:
				me.rank, me.s = 5, k.String()
			default:
				return fmt.Errorf("pickle: cannot marshal dict key of Go type %s", k.Type())
			}
			kv = k.Interface()
		}
		sub := encoder{depth: e.depth}
		if err := sub.encode(kv); err != nil {
			return err
		}
		if err := sub.encode(iter.Value().Interface()); err != nil {
			return err
		}
		me.enc = sub.buf
		entries = append(entries, me)
	}
	slices.SortFunc(entries, func(a, b mapEntry) int {
		return cmp.Or(
			cmp.Compare(a.rank, b.rank),
			cmp.Compare(a.i, b.i),
			cmp.Compare(a.u, b.u),
			cmp.Compare(a.f, b.f),
			strings.Compare(a.s, b.s),
			bytes.Compare(a.enc, b.enc),
		)
	})
	e.buf = append(e.buf, opEmptyDict)
	if len(entries) > 0 {
		e.buf = append(e.buf, opMark)
		for _, me := range entries {
			e.buf = append(e.buf, me.enc...)
		}
		e.buf = append(e.buf, opSetItems)
	}
	e.depth--
	return nil
}
