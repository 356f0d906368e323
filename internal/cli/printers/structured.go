package printers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// protoJSON is the one protojson configuration of the CLI: field names as in
// the .proto files (session_id, creation_time), every field present so that
// scripts need no defaults, enums by name.
var protoJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// MarshalJSON returns v as indented JSON with a trailing newline. A
// proto.Message goes through protojson, anything else through encoding/json.
// protojson varies its whitespace on purpose; compacting and re-indenting
// makes the bytes stable.
func MarshalJSON(v any) ([]byte, error) {
	raw, err := compactJSON(v)
	if err != nil {
		return nil, err
	}
	return indent(raw)
}

// MarshalYAML returns v as YAML: the JSON of MarshalJSON converted, so keys
// and values are the same as in -o json (keys sorted).
func MarshalYAML(v any) ([]byte, error) {
	j, err := MarshalJSON(v)
	if err != nil {
		return nil, err
	}
	return jsonToYAML(j)
}

// WriteStructured writes v to w as JSON or YAML; format must be FormatJSON
// or FormatYAML.
func WriteStructured(w io.Writer, format string, v any) error {
	var (
		out []byte
		err error
	)
	switch format {
	case FormatJSON:
		out, err = MarshalJSON(v)
	case FormatYAML:
		out, err = MarshalYAML(v)
	default:
		return &UnknownFormatError{Format: format, Allowed: []string{FormatJSON, FormatYAML}}
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func compactJSON(v any) ([]byte, error) {
	var (
		raw []byte
		err error
	)
	if m, ok := v.(proto.Message); ok {
		raw, err = protoJSON.Marshal(m)
	} else {
		raw, err = json.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", v, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("encode %T as JSON: %w", v, err)
	}
	return buf.Bytes(), nil
}

func marshalJSONList(objs []any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, o := range objs {
		if i > 0 {
			buf.WriteByte(',')
		}
		raw, err := compactJSON(o)
		if err != nil {
			return nil, err
		}
		buf.Write(raw)
	}
	buf.WriteByte(']')
	return indent(buf.Bytes())
}

func indent(compact []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, compact, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func jsonToYAML(j []byte) ([]byte, error) {
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, fmt.Errorf("convert JSON to YAML: %w", err)
	}
	return y, nil
}
