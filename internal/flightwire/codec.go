// Package flightwire moves Arrow Flight's bulk messages through gRPC with
// fewer copies than the generic protobuf codec makes, on the same wire.
//
// gRPC's "proto" codec marshals a FlightData into one new buffer (a copy of
// its body) and unmarshals one by first gathering the received frames into a
// contiguous buffer and then copying the body out of it (two copies). For
// an object cache whose messages are whole objects those copies are much of
// the CPU a transfer costs. Codec keeps the "proto" name and encoding, so
// peers see plain protobuf, and takes two shortcuts:
//
//   - Marshal of a *Data (a FlightData whose body is a list of parts) sends
//     the parts where they are, after a small header.
//   - Unmarshal of a large *flight.FlightData reads every field straight out
//     of the received frames: the body is copied once, into its own buffer.
//
// Everything else goes to the "proto" codec.
package flightwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// FlightData field numbers (Flight.proto).
const (
	fieldDescriptor  = 1
	fieldDataHeader  = 2
	fieldAppMetadata = 3
	fieldDataBody    = 1000
)

// directMin is the message size from which Unmarshal parses a FlightData
// itself; below it the generic codec is as fast.
const directMin = 64 << 10

// Codec is gRPC's "proto" codec with the shortcuts described in the package
// comment. Use it on both ends with grpc.ForceCodecV2 (a client) or
// grpc.ForceServerCodecV2 (a server).
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// protoCodec is gRPC's own "proto" codec (registered by grpcproto's init,
// which runs before this package's).
var protoCodec = encoding.GetCodecV2(grpcproto.Name)

// Name is "proto". A connection that forces a codec names it in the content
// type, application/grpc+proto instead of plain application/grpc: the same
// protobuf messages, and a form every gRPC server accepts.
func (Codec) Name() string { return grpcproto.Name }

// Marshal encodes v; a *Data without copying its body.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if d, ok := v.(*Data); ok {
		return d.marshal()
	}
	return protoCodec.Marshal(v)
}

// Unmarshal decodes data into v; a large *flight.FlightData with one copy.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if fd, ok := v.(*flight.FlightData); ok && data.Len() >= directMin {
		err := unmarshalFlightData(data, fd)
		if !errors.Is(err, errGroup) {
			return err
		}
		// Groups (a proto2 encoding no Flight peer sends) are left to
		// protobuf, which keeps them as unknown fields.
	}
	return protoCodec.Unmarshal(data, v)
}

// Data is an outgoing FlightData whose body is the concatenation of Body.
// The parts are sent where they are, so they must not change until the call
// that sent them has ended, unless Copy is set.
type Data struct {
	Descriptor  *flight.FlightDescriptor
	Header      []byte // data_header: the Arrow IPC message
	AppMetadata []byte
	Body        [][]byte
	// Copy copies the body into buffers that gRPC recycles once it has
	// written them: for parts whose memory is reused as soon as the send
	// returns (gRPC may still be writing them then).
	Copy bool
}

func (d *Data) marshal() (mem.BufferSlice, error) {
	var head []byte
	if d.Descriptor != nil {
		desc, err := proto.Marshal(d.Descriptor)
		if err != nil {
			return nil, err
		}
		head = protowire.AppendTag(head, fieldDescriptor, protowire.BytesType)
		head = protowire.AppendBytes(head, desc)
	}
	if len(d.Header) > 0 {
		head = protowire.AppendTag(head, fieldDataHeader, protowire.BytesType)
		head = protowire.AppendBytes(head, d.Header)
	}
	if len(d.AppMetadata) > 0 {
		head = protowire.AppendTag(head, fieldAppMetadata, protowire.BytesType)
		head = protowire.AppendBytes(head, d.AppMetadata)
	}
	n := 0
	for _, p := range d.Body {
		n += len(p)
	}
	if n == 0 {
		return mem.BufferSlice{mem.SliceBuffer(head)}, nil
	}
	head = protowire.AppendTag(head, fieldDataBody, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(n))
	out := make(mem.BufferSlice, 0, 1+len(d.Body))
	out = append(out, mem.SliceBuffer(head))
	if d.Copy {
		pool := mem.DefaultBufferPool()
		buf := pool.Get(n)
		at := 0
		for _, p := range d.Body {
			at += copy((*buf)[at:], p)
		}
		return append(out, mem.NewBuffer(buf, pool)), nil
	}
	for _, p := range d.Body {
		if len(p) > 0 {
			out = append(out, mem.SliceBuffer(p))
		}
	}
	return out, nil
}

var (
	errTruncated = errors.New("flightwire: truncated FlightData message")
	errGroup     = errors.New("flightwire: FlightData message with a group field")
)

// readVarint reads a varint, appending its bytes as they were to raw.
func readVarint(r io.ByteReader, raw []byte) (uint64, []byte, error) {
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, raw, errTruncated
		}
		raw = append(raw, c)
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, raw, nil
		}
	}
	return 0, raw, errors.New("flightwire: varint overflows 64 bits in FlightData message")
}

// unmarshalFlightData parses the protobuf encoding of a FlightData from the
// received buffers, copying each field once into its own slice. As with
// protobuf, a later occurrence of a field replaces an earlier one (and a
// descriptor merges), and unknown fields are kept (their values as they
// were encoded).
func unmarshalFlightData(data mem.BufferSlice, fd *flight.FlightData) error {
	r := data.Reader()
	defer r.Close()
	fd.Reset()
	var unknown, raw []byte
	for r.Remaining() > 0 {
		tag, _, err := readVarint(r, raw[:0])
		if err != nil {
			return err
		}
		raw = raw[:0] // the field's encoding after its tag
		if tag>>3 < uint64(protowire.MinValidNumber) || tag>>3 > uint64(protowire.MaxValidNumber) {
			return fmt.Errorf("flightwire: invalid field number %d in FlightData", tag>>3)
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		switch typ {
		case protowire.BytesType:
			var n uint64
			n, raw, err = readVarint(r, raw)
			if err != nil {
				return err
			}
			if n > uint64(r.Remaining()) {
				return errTruncated
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return errTruncated
			}
			switch num {
			case fieldDescriptor:
				if fd.FlightDescriptor == nil {
					fd.FlightDescriptor = &flight.FlightDescriptor{}
				}
				if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, fd.FlightDescriptor); err != nil {
					return fmt.Errorf("flightwire: FlightData descriptor: %w", err)
				}
			case fieldDataHeader:
				fd.DataHeader = b
			case fieldAppMetadata:
				fd.AppMetadata = b
			case fieldDataBody:
				fd.DataBody = b
			default:
				unknown = protowire.AppendTag(unknown, num, typ)
				unknown = append(append(unknown, raw...), b...)
			}
		case protowire.VarintType:
			if _, raw, err = readVarint(r, raw); err != nil {
				return err
			}
			unknown = append(protowire.AppendTag(unknown, num, typ), raw...)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			size := 4
			if typ == protowire.Fixed64Type {
				size = 8
			}
			var b [8]byte
			if _, err := io.ReadFull(r, b[:size]); err != nil {
				return errTruncated
			}
			unknown = append(protowire.AppendTag(unknown, num, typ), b[:size]...)
		case protowire.StartGroupType, protowire.EndGroupType:
			return errGroup
		default:
			return fmt.Errorf("flightwire: invalid wire type %d (field %d) in FlightData", typ, num)
		}
	}
	if len(unknown) > 0 {
		fd.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}

// Sender is the sending half of a gRPC stream (client or server).
type Sender interface{ SendMsg(m any) error }

// PayloadWriter is an ipc.PayloadWriter that sends each Arrow IPC payload
// as one Data message whose body is the payload's buffers as they are,
// instead of gathering them into one buffer that the codec copies again.
// The stream must use Codec. The first message carries the descriptor.
type PayloadWriter struct {
	s    Sender
	desc *flight.FlightDescriptor
	// Copy is Data.Copy for the payloads written from now on: set it while
	// the records written reference memory that is reused once Write
	// returns.
	Copy bool
	body bodyParts
}

var _ ipc.PayloadWriter = (*PayloadWriter)(nil)

// NewPayloadWriter returns a writer sending on s; desc, if not nil, goes
// with the first message. Wrap it with ipc.NewWriterWithPayloadWriter.
func NewPayloadWriter(s Sender, desc *flight.FlightDescriptor) *PayloadWriter {
	return &PayloadWriter{s: s, desc: desc}
}

// Start implements ipc.PayloadWriter.
func (*PayloadWriter) Start() error { return nil }

// Close implements ipc.PayloadWriter; a Flight stream has no end marker.
func (*PayloadWriter) Close() error { return nil }

// WritePayload implements ipc.PayloadWriter.
func (w *PayloadWriter) WritePayload(p ipc.Payload) error {
	meta := p.Meta()
	header := bytes.Clone(meta.Bytes()) // released when this returns
	meta.Release()
	w.body = w.body[:0]
	if err := p.SerializeBody(&w.body); err != nil {
		return err
	}
	msg := &Data{Descriptor: w.desc, Header: header, Body: w.body, Copy: w.Copy}
	w.desc = nil
	return w.s.SendMsg(msg)
}

// bodyParts is an io.Writer that keeps the slices written to it rather than
// their bytes: Payload.SerializeBody writes the record's own buffers and
// static padding, which stay valid while the record is alive.
type bodyParts [][]byte

func (b *bodyParts) Write(p []byte) (int, error) {
	*b = append(*b, p)
	return len(p), nil
}
