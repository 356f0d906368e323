// Package pickle reads and writes the small subset of Python's pickle format
// that flmctl needs to exchange object-cache payloads with flamepy, the Python
// Flame SDK.
//
// flamepy stores every cached object as [Prefix] ("FLM\x00") followed by
// cloudpickle.dumps(obj), and reads a payload by stripping that prefix and
// calling cloudpickle.loads. For plain data (None, bool, int, float, str,
// bytes, list, tuple, dict, set) cloudpickle emits exactly what the standard
// pickle module emits, so a Go program that speaks this subset can put
// objects that Python tasks read, and read the objects Python tasks put.
//
// # Writing
//
// [Marshal] encodes nil, bool, every Go integer kind, *big.Int, float32/64,
// string (which must be valid UTF-8), []byte (Python bytes), slices (list)
// and maps with string, integer, float or bool keys (dict, keys sorted so the
// output is deterministic). It uses protocol 4 opcodes, which Python 3.4 and
// later load, and writes no memo or frame opcodes. [AppendBytes],
// [BytesHeader] and [BytesTrailer] are the fast path for large bytes
// payloads: a fixed header, one copy of the payload (or none, when streaming)
// and a one-byte trailer.
//
// # Reading
//
// [Unmarshal] decodes what CPython's pickle emits at protocols 2 to 5 for
// the same types: None -> nil, bool -> bool, int -> int64 (or *big.Int when
// it does not fit), float -> float64, str -> string, bytes and bytearray ->
// []byte (aliasing the input), list, tuple, set and frozenset -> []any, and
// dict -> map[string]any when every key is a str, else map[any]any. Dict keys
// must map to comparable Go values (None, bool, int64, float64, string);
// bytes, tuple, frozenset and big-integer keys are rejected.
//
// Protocols 2 and 3 spell bytes, bytearray, set and frozenset as a call of a
// builtin (for example _codecs.encode(str, "latin1") followed by REDUCE).
// Unmarshal recognises exactly those five callables and interprets their
// arguments as data; it never imports, looks up or calls anything. Every
// other reference to Python code (GLOBAL, STACK_GLOBAL, REDUCE, BUILD,
// NEWOBJ, INST, OBJ, PERSID, EXT*, out-of-band buffers) makes Unmarshal fail
// with an [*ObjectError] naming the opcode and, when known, module.name.
// Malformed or truncated input returns an error wrapping [ErrMalformed]; it
// never panics.
//
// # The flamepy envelope
//
// [Encode] and [EncodeBytes] add [Prefix] in front of a pickle; [Decode]
// strips it and reports ok=false for payloads without the prefix, which
// flamepy treats as opaque bytes.
package pickle
