package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flmctl/flmctl/internal/objectcache"
	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/local"
)

// The benchmarks compare the cache with a raw Arrow Flight round trip of
// the same bytes, measured in the same run: a Flight server that only keeps
// the last upload in memory and sends it back, and a client that builds one
// row per payload, with the same gRPC limits and windows as the cache.
//
//	go test -run '^$' -bench . -benchtime 2s ./pkg/cache/

const bulkSize = 32 << 20

type rawServer struct {
	flight.BaseFlightServer
	mu   sync.Mutex
	data map[string][]byte
}

func (s *rawServer) DoPut(stream flight.FlightService_DoPutServer) error {
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		return err
	}
	defer r.Release()
	key := r.LatestFlightDescriptor().Path[0]
	var chunks [][]byte
	for r.Next() {
		col := r.RecordBatch().Column(1).(*array.Binary)
		for i := 0; i < col.Len(); i++ {
			chunks = append(chunks, col.Value(i))
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.data[key] = bytes.Join(chunks, nil)
	s.mu.Unlock()
	return stream.Send(&flight.PutResult{})
}

func (s *rawServer) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	s.mu.Lock()
	data := s.data[string(t.Ticket)]
	s.mu.Unlock()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(cache.UploadSchema()))
	defer w.Close()
	rec := cache.UploadRow(data)
	defer rec.Release()
	return w.Write(rec)
}

func startRaw(b *testing.B) flight.Client {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.InitialWindowSize(8<<20), grpc.InitialConnWindowSize(32<<20),
		grpc.ReadBufferSize(256<<10), grpc.WriteBufferSize(256<<10))
	flight.RegisterFlightServiceServer(g, &rawServer{data: map[string][]byte{}})
	go func() { _ = g.Serve(l) }()
	b.Cleanup(g.Stop)
	fc, err := flight.NewClientWithMiddleware("passthrough:///"+l.Addr().String(), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithInitialWindowSize(8<<20), grpc.WithInitialConnWindowSize(32<<20),
		grpc.WithReadBufferSize(256<<10), grpc.WithWriteBufferSize(256<<10))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = fc.Close() })
	return fc
}

func rawPut(ctx context.Context, fc flight.Client, key string, data []byte) error {
	s, err := fc.DoPut(ctx)
	if err != nil {
		return err
	}
	w := flight.NewRecordWriter(s, ipc.WithSchema(cache.UploadSchema()))
	w.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{key}})
	rec := cache.UploadRow(data)
	err = w.Write(rec)
	rec.Release()
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func rawGet(ctx context.Context, fc flight.Client, key string) (int, error) {
	s, err := fc.DoGet(ctx, &flight.Ticket{Ticket: []byte(key)})
	if err != nil {
		return 0, err
	}
	r, err := flight.NewRecordReader(s)
	if err != nil {
		return 0, err
	}
	defer r.Release()
	n := 0
	for r.Next() {
		col := r.RecordBatch().Column(1).(*array.Binary)
		for i := 0; i < col.Len(); i++ {
			n += len(col.Value(i))
		}
	}
	return n, r.Err()
}

func payload(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return p
}

func benchCluster(b *testing.B, storage ...string) *cache.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := local.Options{}
	if len(storage) > 0 {
		opts.CacheStorage = storage[0]
	}
	c, err := local.Start(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Stop)
	cc, err := cache.New(cache.Options{Endpoint: c.Endpoints().Cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	return cc
}

func BenchmarkBulkPut(b *testing.B) {
	data := payload(bulkSize)
	ctx := context.Background()
	b.Run("raw-flight", func(b *testing.B) {
		fc := startRaw(b)
		b.SetBytes(bulkSize)
		for b.Loop() {
			if err := rawPut(ctx, fc, "bench/bulk/obj", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The machine's own ceiling for the disk-backed cache: writing the same
	// bytes to a new file each time (page cache, no fsync), as the cache's
	// disk writer does.
	b.Run("file-write", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(bulkSize)
		i := 0
		for b.Loop() {
			i++
			if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, storage := range []string{"disk", "memory"} {
		b.Run("cache-"+storage, func(b *testing.B) {
			cc := benchCluster(b, map[string]string{"disk": "", "memory": "none"}[storage])
			b.SetBytes(bulkSize)
			for b.Loop() {
				// A new object each time: every one is written to disk.
				if _, err := cc.Put(ctx, "bench/bulk", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBulkPutPaired measures sustained disk-backed puts against raw
// Flight puts in alternating blocks, so that both see the same machine: on
// these shared machines throughput drifts by a third within a minute, more
// than the difference being measured. Each block puts pairedBlock objects;
// a cache block ends only when the disk writer has written them all, so its
// time includes the writes (a little pessimistic: the last write of a block
// overlaps nothing). It reports both rates and the cache's as a percentage
// of raw.
func BenchmarkBulkPutPaired(b *testing.B) {
	const pairedBlock = 16 // 512 MiB per block, twice the disk writer's queue
	data := payload(bulkSize)
	ctx := context.Background()
	fc := startRaw(b)
	oc, err := objectcache.New(objectcache.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer(objectcache.ServerOptions()...)
	oc.Register(g)
	go func() { _ = g.Serve(l) }()
	defer func() { g.Stop(); oc.Close() }()
	oc.SetAdvertise("grpc://" + l.Addr().String())
	cc, err := cache.New(cache.Options{Endpoint: "grpc://" + l.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	var rawTime, cacheTime time.Duration
	b.SetBytes(2 * pairedBlock * bulkSize)
	for b.Loop() {
		t0 := time.Now()
		for range pairedBlock {
			if err := rawPut(ctx, fc, "bench/bulk/obj", data); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for range pairedBlock {
			if _, err := cc.Put(ctx, "bench/bulk", data); err != nil {
				b.Fatal(err)
			}
		}
		oc.Flush()
		t2 := time.Now()
		rawTime += t1.Sub(t0)
		cacheTime += t2.Sub(t1)
	}
	n := float64(b.N * pairedBlock * bulkSize)
	b.ReportMetric(n/rawTime.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(n/cacheTime.Seconds()/1e6, "cache-disk-MB/s")
	b.ReportMetric(100*rawTime.Seconds()/cacheTime.Seconds(), "%-of-raw")
}

func BenchmarkBulkGet(b *testing.B) {
	data := payload(bulkSize)
	ctx := context.Background()
	b.Run("raw-flight", func(b *testing.B) {
		fc := startRaw(b)
		if err := rawPut(ctx, fc, "bench/bulk/obj", data); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(bulkSize)
		for b.Loop() {
			if n, err := rawGet(ctx, fc, "bench/bulk/obj"); err != nil || n != bulkSize {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		cc := benchCluster(b)
		ref, err := cc.Put(ctx, "bench/bulk/obj", data)
		if err != nil {
			b.Fatal(err)
		}
		ref.Version = 0 // the whole object every time, no client-side copy
		b.SetBytes(bulkSize)
		for b.Loop() {
			if got, err := cc.Get(ctx, ref); err != nil || len(got) != bulkSize {
				b.Fatal(len(got), err)
			}
		}
	})
}

// p50 reports the median of the timed calls as "p50-µs".
type p50 struct{ d []time.Duration }

func (p *p50) time(f func() error) error {
	t := time.Now()
	err := f()
	p.d = append(p.d, time.Since(t))
	return err
}

func (p *p50) report(b *testing.B) {
	sort.Slice(p.d, func(i, j int) bool { return p.d[i] < p.d[j] })
	if len(p.d) > 0 {
		b.ReportMetric(float64(p.d[len(p.d)/2].Nanoseconds())/1e3, "p50-µs")
	}
}

func BenchmarkSmall(b *testing.B) {
	data := payload(1 << 10)
	ctx := context.Background()
	b.Run("put/raw-flight", func(b *testing.B) {
		fc := startRaw(b)
		var p p50
		for b.Loop() {
			if err := p.time(func() error { return rawPut(ctx, fc, "bench/small/obj", data) }); err != nil {
				b.Fatal(err)
			}
		}
		p.report(b)
	})
	b.Run("put/cache", func(b *testing.B) {
		cc := benchCluster(b)
		var p p50
		for b.Loop() {
			if err := p.time(func() error { _, err := cc.Put(ctx, "bench/small", data); return err }); err != nil {
				b.Fatal(err)
			}
		}
		p.report(b)
	})
	b.Run("get/raw-flight", func(b *testing.B) {
		fc := startRaw(b)
		if err := rawPut(ctx, fc, "bench/small/obj", data); err != nil {
			b.Fatal(err)
		}
		var p p50
		for b.Loop() {
			if err := p.time(func() error { _, err := rawGet(ctx, fc, "bench/small/obj"); return err }); err != nil {
				b.Fatal(err)
			}
		}
		p.report(b)
	})
	b.Run("get/cache", func(b *testing.B) {
		cc := benchCluster(b)
		ref, err := cc.Put(ctx, "bench/small", data)
		if err != nil {
			b.Fatal(err)
		}
		ref.Version = 0 // a real fetch every time
		var p p50
		for b.Loop() {
			if err := p.time(func() error { _, err := cc.Get(ctx, ref); return err }); err != nil {
				b.Fatal(err)
			}
		}
		p.report(b)
	})
}

// BenchmarkTransfer4GiB uploads and downloads a 4 GiB object through the
// embedded cluster (client and server in this process) and reports the
// peak resident memory of the process during each.
func BenchmarkTransfer4GiB(b *testing.B) {
	const size = 4 << 30
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS counter (%v); this benchmark needs Linux", err)
	}
	cc := benchCluster(b)
	ctx := context.Background()
	block := payload(1 << 20)
	dest := filepath.Join(b.TempDir(), "download.bin")
	for b.Loop() {
		resetPeak(b)
		start := time.Now()
		ref, err := cc.UploadFrom(ctx, "bench/large", &repeatReader{block: block, left: size}, size)
		if err != nil {
			b.Fatal(err)
		}
		up, upPeak := time.Since(start), peakRSS(b)
		resetPeak(b)
		start = time.Now()
		n, err := cc.Download(ctx, ref, dest)
		if err != nil || n != size {
			b.Fatal(n, err)
		}
		down, downPeak := time.Since(start), peakRSS(b)
		_ = os.Remove(dest)
		if err := cc.Delete(ctx, "bench/large"); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(upPeak)/(1<<20), "upload-peak-MiB")
		b.ReportMetric(float64(downPeak)/(1<<20), "download-peak-MiB")
		b.ReportMetric(size/up.Seconds()/1e6, "upload-MB/s")
		b.ReportMetric(size/down.Seconds()/1e6, "download-MB/s")
	}
}

type repeatReader struct {
	block []byte
	left  int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.block)
	n = int(min(int64(n), r.left))
	r.left -= int64(n)
	return n, nil
}

// resetPeak starts a new peak RSS measurement, after returning the memory
// earlier benchmarks in this process left behind to the OS.
func resetPeak(b *testing.B) {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatal(err)
	}
}

// peakRSS returns VmHWM, the peak resident set since the last reset.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
