package cache_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc"

	"github.com/flmctl/flmctl/pkg/cache"
)

// stockServer is a Flight server with gRPC's stock protobuf codec and
// arrow-go's stock reader and writer, as a peer that is not ours would be.
// It keeps the concatenated data column of each upload and sends it back
// as one base row.
type stockServer struct {
	flight.BaseFlightServer
	endpoint string
	mu       sync.Mutex
	objects  map[string][]byte
}

func (s *stockServer) DoPut(stream flight.FlightService_DoPutServer) error {
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		return err
	}
	defer r.Release()
	key := strings.Join(r.LatestFlightDescriptor().GetPath(), "/")
	var data []byte
	for r.Next() {
		col := r.RecordBatch().Column(1).(*array.Binary)
		for i := range col.Len() {
			data = append(data, col.Value(i)...)
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	key += "/obj"
	s.mu.Lock()
	s.objects[key] = data
	s.mu.Unlock()
	ref := cache.ObjectRef{Endpoint: s.endpoint, Key: key, Version: 1}
	return stream.Send(&flight.PutResult{AppMetadata: ref.Encode()})
}

func (s *stockServer) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	key, _, _ := strings.Cut(string(t.Ticket), ":")
	s.mu.Lock()
	data := s.objects[key]
	s.mu.Unlock()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(cache.ResponseSchema()))
	defer w.Close()
	rec := cache.ResponseRow(1, cache.KindBase, data)
	defer rec.Release()
	return w.Write(rec)
}

// TestStockFlightPeer: what this package sends without copies (in place,
// and through gRPC's buffers for uploads from a reader) is read by a stock
// Flight server, and what a stock server sends is read by this package.
func TestStockFlightPeer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &stockServer{endpoint: "grpc://" + l.Addr().String(), objects: map[string][]byte{}}
	g := grpc.NewServer()
	flight.RegisterFlightServiceServer(g, srv)
	go func() { _ = g.Serve(l) }()
	defer g.Stop()
	cc, err := cache.New(cache.Options{Endpoint: srv.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := context.Background()

	for _, n := range []int{0, 10, 100 << 10, 3<<20 + 5} {
		data := payload(n)
		ref, err := cc.Put(ctx, "app/ssn", data)
		if err != nil {
			t.Fatalf("put %d bytes: %v", n, err)
		}
		ref.Version = 0
		got, err := cc.Get(ctx, ref)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get %d bytes: %d bytes back, %v", n, len(got), err)
		}
	}

	// An upload in 1 MiB rows read into one reused buffer.
	data := payload(3<<20 + 123)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ref, err := cc.Upload(ctx, "app/up", src)
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	stored := srv.objects[ref.Key]
	srv.mu.Unlock()
	if !bytes.Equal(stored, data) {
		t.Fatalf("the stock server stored %d bytes that differ from the %d uploaded", len(stored), len(data))
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if n, err := cc.Download(ctx, ref, dest); err != nil || n != int64(len(data)) {
		t.Fatalf("download = %d, %v", n, err)
	}
	if back, err := os.ReadFile(dest); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
}
