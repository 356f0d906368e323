package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every error Unmarshal returns for input that is
// not a well-formed pickle: truncated data, stack underflow, bad lengths,
// trailing bytes after STOP and the like.
var ErrMalformed = errors.New("malformed pickle")

// ObjectError reports a pickle that holds a Python object, or a reference to
// Python code, that Go cannot read. Unmarshal never imports or calls what the
// pickle names; it stops at the first such opcode.
type ObjectError struct {
	Op     string // opcode name, such as "STACK_GLOBAL" or "REDUCE"
	Name   string // "module.name" when the pickle names it, else ""
	Offset int    // byte offset of the opcode in the input
}

// Error names the opcode, the Python object and where it is.
func (e *ObjectError) Error() string {
	what := e.Op
	if e.Name != "" {
		what += " " + e.Name
	}
	return fmt.Sprintf("pickle: %s at offset %d: pickle holds a Python object that Go cannot read (only None, bool, int, float, str, bytes, bytearray, list, tuple, dict, set and frozenset are supported)", what, e.Offset)
}

// Decode-time representations of mutable or shareable Python containers.
// They are pointers so the memo, DUP and APPEND see the same object, and are
// turned into plain Go values once the whole pickle has been read.
type (
	pyList  struct{ items []any }
	pyTuple struct{ items []any }
	pySet   struct{ items []any }
	pyDict  struct {
		m      map[any]any
		nonStr bool // some key is not a string
	}
	// pyGlobal is a reference to one of the builtins in safeGlobals. It is
	// only ever used as the callable of REDUCE.
	pyGlobal struct {
		op, module, name string
		offset           int
	}
)

// safeGlobals are the callables protocols 2 and 3 use to spell plain data.
// REDUCE on them is interpreted (see reduce); nothing is ever called.
var safeGlobals = map[string]bool{
	"builtins.bytes":        true,
	"builtins.bytearray":    true,
	"builtins.set":          true,
	"builtins.frozenset":    true,
	"__builtin__.bytes":     true,
	"__builtin__.bytearray": true,
	"__builtin__.set":       true,
	"__builtin__.frozenset": true,
	"_codecs.encode":        true,
}

// Unmarshal decodes a pickle (protocols 2 to 5) of plain Python data:
//
//	None -> nil, bool -> bool, int -> int64 or *big.Int, float -> float64,
//	str -> string, bytes and bytearray -> []byte,
//	list, tuple, set, frozenset -> []any,
//	dict -> map[string]any (all keys str) or map[any]any.
//
// Returned []byte values alias data (with their capacity clipped), so data
// must not be modified while they are in use; str values are copied. A
// pickle that references Python classes or functions returns an
// [*ObjectError]; malformed input returns an error wrapping [ErrMalformed].
// Objects shared inside the pickle are shared in the result; recursive
// structures are rejected.
func Unmarshal(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.run()
	if err != nil {
		return nil, err
	}
	return d.finish(v, 0)
}

type decoder struct {
	data  []byte
	pos   int
	op    int // offset of the opcode being executed
	stack []any
	marks []int
	memo  map[uint64]any

	done map[any]any  // finished Go value of each container
	busy map[any]bool // containers being finished, to detect cycles
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("pickle: %s at offset %d: %w", fmt.Sprintf(format, args...), d.op, ErrMalformed)
}

func (d *decoder) read(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.pos) {
		return nil, d.errorf("truncated data (%s needs %d bytes, %d left)", opName(d.data[d.op]), n, len(d.data)-d.pos)
	}
	b := d.data[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

func (d *decoder) readUint(size int) (uint64, error) {
	b, err := d.read(uint64(size))
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	default:
		return binary.LittleEndian.Uint64(b), nil
	}
}

func (d *decoder) readLine() (string, error) {
	i := bytes.IndexByte(d.data[d.pos:], '\n')
	if i < 0 {
		return "", d.errorf("truncated data (%s needs a newline)", opName(d.data[d.op]))
	}
	s := string(d.data[d.pos : d.pos+i])
	d.pos += i + 1
	return s, nil
}

func (d *decoder) fence() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1]
}

func (d *decoder) push(v any) { d.stack = append(d.stack, v) }

func (d *decoder) pop() (any, error) {
	if len(d.stack) <= d.fence() {
		return nil, d.errorf("stack underflow in %s", opName(d.data[d.op]))
	}
	v := d.stack[len(d.stack)-1]
	d.stack[len(d.stack)-1] = nil
	d.stack = d.stack[:len(d.stack)-1]
	return v, nil
}

func (d *decoder) top() (any, error) {
	if len(d.stack) <= d.fence() {
		return nil, d.errorf("stack underflow in %s", opName(d.data[d.op]))
	}
	return d.stack[len(d.stack)-1], nil
}

// popMark removes and returns the items above the topmost MARK. The result
// does not alias the stack.
func (d *decoder) popMark() ([]any, error) {
	if len(d.marks) == 0 {
		return nil, d.errorf("%s without MARK", opName(d.data[d.op]))
	}
	k := d.marks[len(d.marks)-1]
	d.marks = d.marks[:len(d.marks)-1]
	items := slices.Clone(d.stack[k:])
	clear(d.stack[k:])
	d.stack = d.stack[:k]
	return items, nil
}

func (d *decoder) memoPut(idx uint64) error {
	v, err := d.top()
	if err != nil {
		return err
	}
	if d.memo == nil {
		d.memo = make(map[uint64]any)
	}
	d.memo[idx] = v
	return nil
}

func (d *decoder) memoGet(idx uint64) error {
	v, ok := d.memo[idx]
	if !ok {
		return d.errorf("memo key %d not found", idx)
	}
	d.push(v)
	return nil
}

func (d *decoder) run() (any, error) {
	for d.pos < len(d.data) {
		d.op = d.pos
		op := d.data[d.pos]
		d.pos++
		if err := d.step(op); err != nil {
			return nil, err
		}
		if op == opStop {
			v, err := d.pop()
			if err != nil {
				return nil, err
			}
			if d.pos != len(d.data) {
				return nil, d.errorf("%d bytes after STOP", len(d.data)-d.pos)
			}
			return v, nil
		}
	}
	d.op = d.pos
	return nil, d.errorf("truncated data (no STOP opcode)")
}

func (d *decoder) step(op byte) error {
	switch op {
	case opStop:
		return nil
	case opProto:
		p, err := d.readUint(1)
		if err != nil {
			return err
		}
		if p > highestProtocol {
			return d.errorf("unsupported protocol %d", p)
		}
	case opFrame:
		n, err := d.readUint(8)
		if err != nil {
			return err
		}
		if n > uint64(len(d.data)-d.pos) {
			return d.errorf("truncated data (FRAME of %d bytes, %d left)", n, len(d.data)-d.pos)
		}
	case opNone:
		d.push(nil)
	case opNewTrue:
		d.push(true)
	case opNewFalse:
		d.push(false)
	case opBinInt:
		n, err := d.readUint(4)
		if err != nil {
			return err
		}
		d.push(int64(int32(uint32(n))))
	case opBinInt1:
		n, err := d.readUint(1)
		if err != nil {
			return err
		}
		d.push(int64(n))
	case opBinInt2:
		n, err := d.readUint(2)
		if err != nil {
			return err
		}
		d.push(int64(n))
	case opLong1, opLong4:
		var n uint64
		var err error
		if op == opLong1 {
			n, err = d.readUint(1)
		} else {
			n, err = d.readUint(4)
			if err == nil && int32(uint32(n)) < 0 {
				return d.errorf("negative LONG4 length")
			}
		}
		if err != nil {
			return err
		}
		b, err := d.read(n)
		if err != nil {
			return err
		}
		d.push(decodeLong(b))
	case opBinFloat:
		b, err := d.read(8)
		if err != nil {
			return err
		}
		d.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opShortBinUnicode, opBinUnicode, opBinUnicode8:
		b, err := d.readSized(op)
		if err != nil {
			return err
		}
		d.push(string(b))
	case opShortBinBytes, opBinBytes, opBinBytes8, opByteArray8:
		b, err := d.readSized(op)
		if err != nil {
			return err
		}
		d.push(b)
	case opEmptyList:
		d.push(&pyList{})
	case opEmptyTuple:
		d.push(&pyTuple{})
	case opEmptyDict:
		d.push(&pyDict{m: map[any]any{}})
	case opEmptySet:
		d.push(&pySet{})
	case opMark:
		d.marks = append(d.marks, len(d.stack))
	case opPop:
		if n := len(d.marks); n > 0 && d.marks[n-1] == len(d.stack) {
			d.marks = d.marks[:n-1]
			return nil
		}
		_, err := d.pop()
		return err
	case opPopMark:
		_, err := d.popMark()
		return err
	case opDup:
		v, err := d.top()
		if err != nil {
			return err
		}
		d.push(v)
	case opAppend:
		v, err := d.pop()
		if err != nil {
			return err
		}
		return d.appendTo([]any{v})
	case opAppends:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		return d.appendTo(items)
	case opList:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.push(&pyList{items: items})
	case opTuple:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.push(&pyTuple{items: items})
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(d.stack)-d.fence() < n {
			return d.errorf("stack underflow in %s", opName(op))
		}
		items := slices.Clone(d.stack[len(d.stack)-n:])
		d.stack = d.stack[:len(d.stack)-n]
		d.push(&pyTuple{items: items})
	case opDict:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		dict := &pyDict{m: make(map[any]any, len(items)/2)}
		d.push(dict)
		return d.setItems(dict, items)
	case opSetItem:
		v, err := d.pop()
		if err != nil {
			return err
		}
		k, err := d.pop()
		if err != nil {
			return err
		}
		return d.setItemsOnTop([]any{k, v})
	case opSetItems:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		return d.setItemsOnTop(items)
	case opAddItems:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		t, err := d.top()
		if err != nil {
			return err
		}
		s, ok := t.(*pySet)
		if !ok {
			return d.errorf("ADDITEMS on %s", pyType(t))
		}
		s.items = append(s.items, items...)
	case opFrozenSet:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.push(&pySet{items: items})
	case opMemoize:
		return d.memoPut(uint64(len(d.memo)))
	case opBinPut, opLongBinPut:
		idx, err := d.readUint(memoIndexSize(op))
		if err != nil {
			return err
		}
		return d.memoPut(idx)
	case opBinGet, opLongBinGet:
		idx, err := d.readUint(memoIndexSize(op))
		if err != nil {
			return err
		}
		return d.memoGet(idx)
	case opPut, opGet:
		line, err := d.readLine()
		if err != nil {
			return err
		}
		idx, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			return d.errorf("bad %s index %q", opName(op), line)
		}
		if op == opPut {
			return d.memoPut(idx)
		}
		return d.memoGet(idx)
	case opGlobal:
		module, err := d.readLine()
		if err != nil {
			return err
		}
		name, err := d.readLine()
		if err != nil {
			return err
		}
		return d.global("GLOBAL", module, name)
	case opStackGlobal:
		nv, err := d.pop()
		if err != nil {
			return err
		}
		mv, err := d.pop()
		if err != nil {
			return err
		}
		module, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return d.errorf("STACK_GLOBAL needs two str, got %s and %s", pyType(mv), pyType(nv))
		}
		return d.global("STACK_GLOBAL", module, name)
	case opReduce:
		return d.reduce()
	case opInst:
		// INST names the class inline; read it only to report it.
		module, err1 := d.readLine()
		name, err2 := d.readLine()
		oe := &ObjectError{Op: "INST", Offset: d.op}
		if err1 == nil && err2 == nil {
			oe.Name = module + "." + name
		}
		return oe
	case opBuild, opNewObj, opNewObjEx, opObj, opPersID, opBinPersID,
		opExt1, opExt2, opExt4, opNextBuffer, opReadOnlyBuffer:
		return &ObjectError{Op: opName(op), Offset: d.op}
	case opInt, opLong, opFloat, opString, opBinString, opShortBinString, opUnicode:
		return d.errorf("unsupported protocol 0/1 opcode %s (pickle with protocol 2 or later)", opName(op))
	default:
		return d.errorf("unknown opcode 0x%02x", op)
	}
	return nil
}

func memoIndexSize(op byte) int {
	if op == opLongBinPut || op == opLongBinGet {
		return 4
	}
	return 1
}

// readSized reads the length-prefixed payload of a str or bytes opcode.
func (d *decoder) readSized(op byte) ([]byte, error) {
	size := 4
	switch op {
	case opShortBinUnicode, opShortBinBytes:
		size = 1
	case opBinUnicode8, opBinBytes8, opByteArray8:
		size = 8
	}
	n, err := d.readUint(size)
	if err != nil {
		return nil, err
	}
	return d.read(n)
}

func (d *decoder) appendTo(items []any) error {
	t, err := d.top()
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		return d.errorf("%s on %s", opName(d.data[d.op]), pyType(t))
	}
	l.items = append(l.items, items...)
	return nil
}

func (d *decoder) setItemsOnTop(items []any) error {
	t, err := d.top()
	if err != nil {
		return err
	}
	dict, ok := t.(*pyDict)
	if !ok {
		return d.errorf("%s on %s", opName(d.data[d.op]), pyType(t))
	}
	return d.setItems(dict, items)
}

func (d *decoder) setItems(dict *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return d.errorf("odd number of items for %s", opName(d.data[d.op]))
	}
	for i := 0; i < len(items); i += 2 {
		k := items[i]
		switch g := k.(type) {
		case string:
		case nil, bool, int64, float64:
			dict.nonStr = true
		case *pyGlobal:
			return &ObjectError{Op: g.op, Name: g.module + "." + g.name, Offset: g.offset}
		default:
			return d.errorf("dict key of Python type %s cannot be a Go map key", pyType(k))
		}
		dict.m[k] = items[i+1]
	}
	return nil
}

func (d *decoder) global(op, module, name string) error {
	if !safeGlobals[module+"."+name] {
		return &ObjectError{Op: op, Name: module + "." + name, Offset: d.op}
	}
	d.push(&pyGlobal{op: op, module: module, name: name, offset: d.op})
	return nil
}

// reduce interprets the call of a safe global with literal arguments, the
// way protocols 2 and 3 spell bytes, bytearray, set and frozenset:
//
//	bytes()                          -> b""
//	bytearray() / bytearray(bytes)   -> bytes
//	set() / set(list), frozenset(..) -> items
//	_codecs.encode(str, "latin1")    -> bytes
func (d *decoder) reduce() error {
	av, err := d.pop()
	if err != nil {
		return err
	}
	fv, err := d.pop()
	if err != nil {
		return err
	}
	g, ok := fv.(*pyGlobal)
	if !ok {
		return &ObjectError{Op: "REDUCE", Offset: d.op}
	}
	qual := g.module + "." + g.name
	bad := &ObjectError{Op: "REDUCE", Name: qual, Offset: d.op}
	t, ok := av.(*pyTuple)
	if !ok {
		return bad
	}
	args := t.items
	switch g.name {
	case "bytes":
		if len(args) != 0 {
			return bad
		}
		d.push([]byte{})
	case "bytearray":
		switch len(args) {
		case 0:
			d.push([]byte{})
		case 1:
			b, ok := args[0].([]byte)
			if !ok {
				return bad
			}
			d.push(b)
		default:
			return bad
		}
	case "set", "frozenset":
		switch len(args) {
		case 0:
			d.push(&pySet{})
		case 1:
			l, ok := args[0].(*pyList)
			if !ok {
				return bad
			}
			d.push(&pySet{items: slices.Clone(l.items)})
		default:
			return bad
		}
	case "encode":
		if len(args) != 2 {
			return bad
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return bad
		}
		if !utf8.ValidString(s) {
			return d.errorf("_codecs.encode: argument is not valid UTF-8")
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return d.errorf("_codecs.encode: %q is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		d.push(b)
	default:
		return bad
	}
	return nil
}

// decodeLong decodes pickle's little-endian two's complement integers.
func decodeLong(b []byte) any {
	if len(b) <= 8 {
		var x uint64
		for i := len(b) - 1; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
		}
		if n := len(b); n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			x |= math.MaxUint64 << (8 * n) // sign-extend
		}
		return int64(x)
	}
	be := slices.Clone(b)
	slices.Reverse(be)
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *pyList:
		return "list"
	case *pyTuple:
		return "tuple"
	case *pySet:
		return "set"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return v.module + "." + v.name
	}
	return fmt.Sprintf("%T", v)
}

// finish turns decode-time containers into plain Go values. Each container
// is converted once, so shared objects stay shared and a pickle cannot blow
// up exponentially through repeated references.
func (d *decoder) finish(v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, *big.Int, float64, string, []byte:
		return v, nil
	case *pyGlobal:
		return nil, &ObjectError{Op: x.op, Name: x.module + "." + x.name, Offset: x.offset}
	}
	if r, ok := d.done[v]; ok {
		return r, nil
	}
	if d.busy[v] {
		return nil, fmt.Errorf("pickle: recursive %s cannot be represented in Go: %w", pyType(v), ErrMalformed)
	}
	if depth >= maxDepth {
		return nil, fmt.Errorf("pickle: nesting deeper than %d levels: %w", maxDepth, ErrMalformed)
	}
	if d.busy == nil {
		d.busy = make(map[any]bool)
		d.done = make(map[any]any)
	}
	d.busy[v] = true
	var r any
	var err error
	switch x := v.(type) {
	case *pyList:
		r, err = d.finishItems(x.items, depth)
	case *pyTuple:
		r, err = d.finishItems(x.items, depth)
	case *pySet:
		r, err = d.finishItems(x.items, depth)
	case *pyDict:
		r, err = d.finishDict(x, depth)
	default:
		err = fmt.Errorf("pickle: internal error: unexpected %T", v)
	}
	if err != nil {
		return nil, err
	}
	delete(d.busy, v)
	d.done[v] = r
	return r, nil
}

func (d *decoder) finishItems(items []any, depth int) ([]any, error) {
	out := make([]any, len(items))
	for i, it := range items {
		v, err := d.finish(it, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (d *decoder) finishDict(x *pyDict, depth int) (any, error) {
	if !x.nonStr {
		out := make(map[string]any, len(x.m))
		for k, v := range x.m {
			fv, err := d.finish(v, depth+1)
			if err != nil {
				return nil, err
			}
			out[k.(string)] = fv
		}
		return out, nil
	}
	out := make(map[any]any, len(x.m))
	for k, v := range x.m {
		fv, err := d.finish(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = fv
	}
	return out, nil
}
