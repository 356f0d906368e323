package objectcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/cache"
)

// These tests talk to a real Cache over gRPC with a raw Arrow Flight
// client, the way pyarrow would: no pkg/cache client, so every server-side
// check is reachable.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is one running cache and a raw Flight client of it.
type testServer struct {
	c      *Cache
	client flight.Client
	addr   string
	uri    string
	stop   func()
}

// start runs a cache with opts on 127.0.0.1:0. Stop (which also closes the
// cache, writing what is queued for the disk) is registered as a cleanup
// and may be called early, to restart on the same Dir.
func start(t *testing.T, opts Options) *testServer {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ServerOptions()...)
	c.Register(g)
	addr := lis.Addr().String()
	c.SetAdvertise("grpc://" + addr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	cl, err := flight.NewClientWithMiddleware(addr, nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		g.Stop()
		<-done
		t.Fatal(err)
	}
	stopped := false
	ts := &testServer{c: c, client: cl, addr: addr, uri: "grpc://" + addr}
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cl.Close()
		g.Stop()
		<-done
		c.Close()
	}
	t.Cleanup(ts.stop)
	return ts
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// opaque builds one upload batch {version uint64 = 0, data binary} with a
// row per payload.
func opaque(rows ...[]byte) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, cache.UploadSchema())
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Uint64Builder).Append(0)
		b.Field(1).(*array.BinaryBuilder).Append(r)
	}
	return b.NewRecordBatch()
}

func pathDesc(p ...string) *flight.FlightDescriptor {
	return &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: p}
}

func cmdDesc(cmd string) *flight.FlightDescriptor {
	return &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte(cmd)}
}

// doPut uploads batches (releasing them) under schema with descriptor d
// and returns the app_metadata of every PutResult.
func (ts *testServer) doPut(t *testing.T, d *flight.FlightDescriptor, schema *arrow.Schema, batches ...arrow.RecordBatch) ([][]byte, error) {
	t.Helper()
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	ctx := ctxT(t)
	stream, err := ts.client.DoPut(ctx)
	if err != nil {
		return nil, err
	}
	w := flight.NewRecordWriter(stream, ipc.WithSchema(schema))
	w.SetFlightDescriptor(d)
	// A server that rejects the upload early makes writes fail with EOF;
	// the status comes from Recv.
	for _, b := range batches {
		if w.Write(b) != nil {
			break
		}
	}
	_ = w.Close()
	_ = stream.CloseSend()
	var out [][]byte
	for {
		pr, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, pr.AppMetadata)
	}
}

// put uploads payload rows as one batch and returns the ref.
func (ts *testServer) put(t *testing.T, d *flight.FlightDescriptor, rows ...[]byte) cache.ObjectRef {
	t.Helper()
	md, err := ts.doPut(t, d, cache.UploadSchema(), opaque(rows...))
	if err != nil {
		t.Fatalf("put %v: %v", d, err)
	}
	if len(md) != 1 {
		t.Fatalf("put %v: %d PutResults, want 1", d, len(md))
	}
	ref, err := cache.DecodeRef(md[0])
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (ts *testServer) patch(t *testing.T, key string, rows ...[]byte) cache.ObjectRef {
	t.Helper()
	return ts.put(t, cmdDesc(cache.PatchCommand+key), rows...)
}

// gotRow is one row of a download.
type gotRow struct {
	version uint64
	kind    string
	data    string
}

// download is what a DoGet returned.
type download struct {
	schema  *arrow.Schema
	batches int
	rows    []gotRow
	records []arrow.RecordBatch // retained copies, for native tables
}

// doGet reads a whole DoGet stream. On an error mid-stream it returns what
// came before it along with the error.
func (ts *testServer) doGet(t *testing.T, ticket string) (download, error) {
	t.Helper()
	stream, err := ts.client.DoGet(ctxT(t), &flight.Ticket{Ticket: []byte(ticket)})
	if err != nil {
		return download{}, err
	}
	rdr, err := flight.NewRecordReader(stream)
	if err != nil {
		return download{}, err
	}
	defer rdr.Release()
	dl := download{schema: rdr.Schema()}
	for rdr.Next() {
		rec := rdr.RecordBatch()
		dl.batches++
		rec.Retain()
		dl.records = append(dl.records, rec)
		t.Cleanup(rec.Release)
		vi, ki, di := rec.Schema().FieldIndices("version"), rec.Schema().FieldIndices("kind"), rec.Schema().FieldIndices("data")
		if len(vi) != 1 || len(ki) != 1 || len(di) != 1 {
			continue
		}
		vs := rec.Column(vi[0]).(*array.Uint64)
		ks := rec.Column(ki[0]).(*array.String)
		ds := rec.Column(di[0]).(*array.Binary)
		for i := 0; i < int(rec.NumRows()); i++ {
			dl.rows = append(dl.rows, gotRow{vs.Value(i), ks.Value(i), string(ds.Value(i))})
		}
	}
	return dl, rdr.Err()
}

func (ts *testServer) get(t *testing.T, ticket string) download {
	t.Helper()
	dl, err := ts.doGet(t, ticket)
	if err != nil {
		t.Fatalf("get %s: %v", ticket, err)
	}
	return dl
}

// object folds the rows of a full download into the base payload and its
// patches, checking the kinds and versions on the way. The server sends a
// stored blob as one row per chunk it was uploaded in, so consecutive rows
// of one version are one payload.
func (dl download) object(t *testing.T) (base string, baseVersion uint64, patches []gotRow) {
	t.Helper()
	var b strings.Builder
	for i, r := range dl.rows {
		switch {
		case r.kind == cache.KindBase && len(patches) == 0:
			if i > 0 && r.version != baseVersion {
				t.Fatalf("base rows with versions %d and %d", baseVersion, r.version)
			}
			baseVersion = r.version
			b.WriteString(r.data)
		case r.kind == cache.KindPatch && len(patches) > 0 && patches[len(patches)-1].version == r.version:
			patches[len(patches)-1].data += r.data
		case r.kind == cache.KindPatch:
			patches = append(patches, r)
		default:
			t.Fatalf("row %d is %+v after %d patches", i, r, len(patches))
		}
	}
	return b.String(), baseVersion, patches
}

// wantStatus checks err's gRPC code and that its message contains substr.
func wantStatus(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	s, ok := status.FromError(err)
	if !ok || s.Code() != code || !strings.Contains(s.Message(), substr) {
		t.Fatalf("error = %v, want %v containing %q", err, code, substr)
	}
}

func mustParse(t *testing.T, key string) cache.ObjectKey {
	t.Helper()
	k, err := cache.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flush waits until the store's changes are on disk.
func (ts *testServer) flush() { ts.c.Flush() }

// resident reports whether every blob of key holds its data in memory.
func (ts *testServer) resident(t *testing.T, key string) bool {
	t.Helper()
	k := mustParse(t, key)
	s := ts.c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.prefixes[k.Prefix().String()][k.Object]
	if o == nil || o.base == nil {
		t.Fatalf("%s is not in the store", key)
	}
	for _, b := range append([]*blob{o.base}, o.patches...) {
		if b.chunks == nil || b.elem == nil {
			return false
		}
	}
	return true
}

func repeat(s string, n int) []byte { return bytes.Repeat([]byte(s), n) }
