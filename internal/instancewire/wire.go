// Package instancewire is the framed wire between flmctl's executor manager
// and an instance process built on pkg/service: flame.v1.Instance's three
// calls, with their protobuf messages unchanged, as length-prefixed frames on
// a second Unix socket. It is an offer, never a requirement, so the
// instance-launch contract stays upstream's:
//
//   - the executor manager sets EndpointEnv to a socket path next to the one
//     in FLAME_INSTANCE_ENDPOINT;
//   - an instance that knows the variable (pkg/service's Run) listens there
//     first and then serves gRPC on FLAME_INSTANCE_ENDPOINT as always;
//   - when the gRPC socket appears, the manager dials the framed one if it
//     exists and exchanges the Preface; otherwise, or if that fails, it
//     calls the instance over gRPC.
//
// Upstream's services (flamepy, flame-rs) ignore the variable and are called
// over gRPC; a pkg/service instance under upstream's executor manager never
// sees the variable and serves gRPC alone.
//
// Why: an OnTaskInvoke over gRPC costs each side an HTTP/2 stream (headers,
// HPACK, flow control, a writer goroutine) on top of the message, several
// times the work of a task that does little. A frame is one write and one
// read each way.
//
// # Frames
//
// After the Preface, which the client sends and the server echoes, the
// client sends one request and waits for its response; calls never overlap
// on a connection. A frame is a 5-byte header and a payload:
//
//	request:  kind (1 byte) | payload length (4 bytes, big-endian) | request message
//	response: code (1 byte) | payload length (4 bytes, big-endian) | response message or error text
//
// Kinds are KindEnter (flame.v1.SessionContext → flame.v1.Result),
// KindInvoke (flame.v1.TaskContext → flame.v1.TaskResult) and KindLeave
// (flame.v1.EmptyRequest → flame.v1.Result). A response's code is a gRPC
// status code: 0 (OK) carries the response message, any other the status
// message as UTF-8 text, except codeRefused (255): the server is shutting
// down and did not run the request, which may be sent to another instance.
// A server answers a kind it does not know with Unimplemented and keeps the
// connection. Payloads are at most MaxMessageSize bytes. Closing the
// connection cancels the call in progress.
package instancewire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
)

// EndpointEnv names the variable through which the executor manager offers
// the framed wire: the path of the Unix socket to serve it on.
const EndpointEnv = "FLMCTL_INSTANCE_FRAMED_ENDPOINT"

// Preface opens a connection: the client sends it, the server echoes it. A
// later incompatible version of the frames changes it, so that either side
// can fall back to gRPC.
const Preface = "flmctl-instance-frames/1\n"

// Request kinds.
const (
	KindEnter  byte = 1
	KindInvoke byte = 2
	KindLeave  byte = 3
)

// MaxMessageSize bounds a frame's payload, as the gRPC connections to
// instances bound a message.
const MaxMessageSize = math.MaxInt32

// headerLen is the size of a frame's header.
const headerLen = 5

// codeRefused answers a request that the server did not run because it is
// shutting down. It is outside gRPC's codes.
const codeRefused byte = 255

// putHeader writes a frame header for a payload of n bytes into b[:headerLen].
func putHeader(b []byte, kindOrCode byte, n int) {
	b[0] = kindOrCode
	binary.BigEndian.PutUint32(b[1:headerLen], uint32(n))
}

// parseHeader reads a frame header.
func parseHeader(b []byte) (kindOrCode byte, n uint32) {
	return b[0], binary.BigEndian.Uint32(b[1:headerLen])
}

// readPayload reads a payload of size bytes (at most MaxMessageSize), into
// buf when it is large enough. A larger payload is read into a buffer grown
// as its bytes arrive, so that a corrupt length costs no more memory than
// the bytes sent.
func readPayload(r io.Reader, size uint32, buf []byte) ([]byte, error) {
	if size > MaxMessageSize {
		return nil, fmt.Errorf("frame of %d bytes is larger than the %d an instance call carries", size, MaxMessageSize)
	}
	n := int(size)
	if n <= cap(buf) {
		b := buf[:n]
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, min(n, max(keepBuffer, cap(buf))))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(len(b), n-len(b)))
		}
		m, err := io.ReadFull(r, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// keepBuffer is the largest buffer a connection keeps for the next frame;
// a larger one, grown for a big input or output, is dropped after use.
const keepBuffer = 1 << 20
