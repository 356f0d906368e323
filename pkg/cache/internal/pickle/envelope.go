package pickle

import "bytes"

// Prefix starts every object-cache payload flamepy writes; the pickle
// follows it.
const Prefix = "FLM\x00"

// Encode returns Prefix followed by Marshal(v): a payload flamepy's object
// cache reads back as the corresponding Python value.
func Encode(v any) ([]byte, error) {
	p, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte(Prefix), p...), nil
}

// EncodeBytes returns Prefix followed by a pickle of the Python bytes object
// b, with a single allocation and a single copy of b.
func EncodeBytes(b []byte) []byte {
	dst := make([]byte, 0, len(Prefix)+bytesHeaderLen(len(b))+len(b)+1)
	return AppendBytes(append(dst, Prefix...), b)
}

// Decode reads a flamepy object-cache payload. If payload does not start
// with Prefix it returns ok=false and no error, meaning the payload is opaque
// bytes to Go (flamepy itself would still try cloudpickle.loads on it; a
// caller that wants that can call Unmarshal). Otherwise it returns ok=true and the
// result of Unmarshal on the rest of the payload (so []byte values in v
// alias payload).
func Decode(payload []byte) (v any, ok bool, err error) {
	if !bytes.HasPrefix(payload, []byte(Prefix)) {
		return nil, false, nil
	}
	v, err = Unmarshal(payload[len(Prefix):])
	return v, true, err
}

// TypeName returns the Python type name of a value Unmarshal produced, for
// messages ("str", "int", "dict", ...). Lists, tuples and sets all decode to
// []any and are named together.
func TypeName(v any) string {
	switch v.(type) {
	case []any:
		return "list, tuple or set"
	case map[string]any, map[any]any:
		return "dict"
	}
	return pyType(v)
}
