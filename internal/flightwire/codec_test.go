package flightwire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func sampleBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// split cuts b into a BufferSlice of pieces of random sizes, as frames
// arrive from the network.
func split(b []byte, rng *rand.Rand) mem.BufferSlice {
	var out mem.BufferSlice
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(70000))
		out = append(out, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return out
}

// TestDataMarshal_SameBytesAsProto: a Data is encoded exactly as protobuf
// encodes the FlightData it stands for, whatever its parts and Copy.
func TestDataMarshal_SameBytesAsProto(t *testing.T) {
	body := sampleBody(200 << 10)
	desc := &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"app/ssn"}}
	for _, tc := range []struct {
		name string
		d    Data
	}{
		{"empty", Data{}},
		{"schema message", Data{Descriptor: desc, Header: []byte("schema")}},
		{"one part", Data{Header: []byte("h"), Body: [][]byte{body}}},
		{"many parts", Data{Descriptor: desc, Header: []byte("h"), AppMetadata: []byte("m"), Body: [][]byte{body[:8], nil, body[8:100], body[100:]}}},
		{"copied", Data{Header: []byte("h"), Body: [][]byte{body[:5], body[5:]}, Copy: true}},
		{"empty parts", Data{Header: []byte("h"), Body: [][]byte{nil, {}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := proto.Marshal(&flight.FlightData{
				FlightDescriptor: tc.d.Descriptor, DataHeader: tc.d.Header, AppMetadata: tc.d.AppMetadata,
				DataBody: bytes.Join(tc.d.Body, nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			bs, err := Codec{}.Marshal(&tc.d)
			if err != nil {
				t.Fatal(err)
			}
			got := bs.Materialize()
			bs.Free()
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal = %d bytes, proto.Marshal = %d bytes; they differ", len(got), len(want))
			}
		})
	}
}

// TestDataMarshal_InPlaceUnlessCopy: without Copy the body is sent from the
// caller's memory; with it, from gRPC's own buffer.
func TestDataMarshal_InPlaceUnlessCopy(t *testing.T) {
	body := sampleBody(1 << 20)
	for _, cp := range []bool{false, true} {
		bs, err := Codec{}.Marshal(&Data{Header: []byte("h"), Body: [][]byte{body}, Copy: cp})
		if err != nil {
			t.Fatal(err)
		}
		last := bs[len(bs)-1].ReadOnlyData()
		shared := &last[0] == &body[0]
		bs.Free()
		if shared == cp {
			t.Errorf("Copy=%v: body shared with the caller = %v", cp, shared)
		}
	}
}

// TestUnmarshal_MatchesProto decodes large FlightData messages arriving in
// random pieces and compares them with protobuf's own decoding.
func TestUnmarshal_MatchesProto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	withUnknown := &flight.FlightData{DataHeader: []byte("h"), DataBody: sampleBody(100 << 10)}
	var unk []byte
	unk = protowire.AppendTag(unk, 7, protowire.VarintType)
	unk = protowire.AppendVarint(unk, 300)
	unk = protowire.AppendTag(unk, 8, protowire.BytesType)
	unk = protowire.AppendBytes(unk, []byte("x"))
	unk = protowire.AppendTag(unk, 9, protowire.Fixed32Type)
	unk = append(unk, 1, 2, 3, 4)
	unk = protowire.AppendTag(unk, 10, protowire.Fixed64Type)
	unk = append(unk, 1, 2, 3, 4, 5, 6, 7, 8)
	withUnknown.ProtoReflect().SetUnknown(unk)
	for _, msg := range []*flight.FlightData{
		{DataBody: sampleBody(directMin)},
		{FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("PATCH:a/b/c")}, DataHeader: []byte("hdr"), AppMetadata: []byte("meta"), DataBody: sampleBody(3 << 20)},
		withUnknown,
	} {
		wire, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		var got flight.FlightData
		if err := (Codec{}).Unmarshal(split(wire, rng), &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, msg) {
			t.Fatalf("decoded message differs from the original (body %d bytes)", len(msg.DataBody))
		}
	}
}

func TestUnmarshal_Truncated(t *testing.T) {
	wire, err := proto.Marshal(&flight.FlightData{DataHeader: []byte("h"), DataBody: sampleBody(directMin)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 6, len(wire) / 2, len(wire) - 1} {
		var got flight.FlightData
		if err := unmarshalFlightData(mem.BufferSlice{mem.SliceBuffer(wire[:n])}, &got); err == nil {
			t.Errorf("%d of %d bytes decoded without an error", n, len(wire))
		}
	}
}

// FuzzUnmarshal: whatever the bytes, Codec.Unmarshal (on the direct path
// whatever the size) does not panic, accepts exactly what protobuf accepts,
// and decodes it to the same message.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range []*flight.FlightData{
		{},
		{DataHeader: []byte("h"), DataBody: []byte("body")},
		{FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"a", "b"}}, AppMetadata: []byte{0}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var got, want flight.FlightData
		err := unmarshalFlightData(mem.BufferSlice{mem.SliceBuffer(wire)}, &got)
		if errors.Is(err, errGroup) { // what Codec.Unmarshal does then
			err = protoCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got)
		}
		werr := proto.Unmarshal(wire, &want)
		switch {
		case err == nil && werr != nil:
			t.Fatalf("accepted what protobuf rejects (%v)", werr)
		case err != nil && werr == nil:
			t.Fatalf("rejected what protobuf accepts: %v", err)
		case err == nil && !proto.Equal(&got, &want):
			t.Fatalf("decoded %v, protobuf decodes %v", &got, &want)
		}
	})
}

// TestUnmarshal_GroupsGoToProtobuf: a large message with an (unknown) group
// field decodes as protobuf decodes it.
func TestUnmarshal_GroupsGoToProtobuf(t *testing.T) {
	wire, err := proto.Marshal(&flight.FlightData{DataHeader: []byte("h"), DataBody: sampleBody(directMin)})
	if err != nil {
		t.Fatal(err)
	}
	wire = protowire.AppendTag(wire, 11, protowire.StartGroupType)
	wire = protowire.AppendTag(wire, 1, protowire.VarintType)
	wire = protowire.AppendVarint(wire, 5)
	wire = protowire.AppendTag(wire, 11, protowire.EndGroupType)
	var got, want flight.FlightData
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(wire, &want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, &want) || len(got.ProtoReflect().GetUnknown()) == 0 {
		t.Fatal("the group was not decoded as protobuf decodes it")
	}
}
