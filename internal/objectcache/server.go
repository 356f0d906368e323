// Package objectcache is Flame's object cache: an Arrow Flight service
// that stores versioned objects under "<app>/<session>/<object>" keys, with
// patches, as upstream's cache server speaks it (flame-protocol.md §9).
//
// Objects live in memory within a byte budget (least recently used first
// out) and, when the cache has a directory, are written through to it: a
// dropped object is read back from disk on its next get, and everything is
// back after a restart. Uploads larger than the spill threshold stream
// straight to disk, so a multi-gigabyte file never sits in memory. Every
// chunk on disk carries a checksum; a damaged file is reported, never
// served.
package objectcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/internal/flightwire"
	"github.com/flmctl/flmctl/pkg/cache"
)

// Options configure a cache.
type Options struct {
	// Dir stores objects on disk; "" keeps them in memory only.
	Dir string
	// MaxMemory is the byte budget of objects held in memory; 0 means 1
	// GiB, negative means no limit.
	MaxMemory int64
	// MaxObjects bounds how many objects (bases and patches) are held in
	// memory, least recently used out first; 0 means no bound.
	MaxObjects int
	// Spill is the size above which an upload goes straight to disk
	// instead of memory (with a Dir); 0 means MaxMemory/16, at most 64 MiB.
	Spill int64
	// Advertise is the endpoint put into every ObjectRef, e.g.
	// "grpc://127.0.0.1:9090". It must be reachable by clients and
	// instances.
	Advertise string
	// Compress sends downloads as ZSTD-compressed Arrow IPC, as upstream
	// does. It is off unless asked for (clients read both): measured on
	// loopback with random data, it halves bulk download throughput, and
	// arrow-go makes a new ZSTD encoder per stream, which costs a small
	// download about 1.8 ms instead of 65 µs.
	Compress bool
	// Logger receives the cache's logs; nil discards them.
	Logger *slog.Logger
}

// Cache is the Flight service. Register it on a gRPC server.
type Cache struct {
	flight.BaseFlightServer
	store     *Store
	advertise string
	compress  bool
	log       *slog.Logger
}

// New opens a cache, loading what its directory holds.
func New(opts Options) (*Cache, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxMem := opts.MaxMemory
	if maxMem == 0 {
		maxMem = 1 << 30
	}
	spill := opts.Spill
	if spill == 0 {
		spill = min(max(maxMem/16, 1<<20), 64<<20)
		if maxMem < 0 {
			spill = 64 << 20
		}
	}
	dir := opts.Dir
	st := newStore(dir, maxMem, spill, log)
	st.maxObjects = max(opts.MaxObjects, 0)
	if err := st.load(); err != nil {
		return nil, err
	}
	return &Cache{store: st, advertise: opts.Advertise, compress: opts.Compress, log: log}, nil
}

// Close writes what is still queued for the disk. Stop serving first.
func (c *Cache) Close() { c.store.Close() }

// Flush waits until every object put so far is on disk.
func (c *Cache) Flush() { c.store.Flush() }

// ServerOptions are the options of the gRPC server the cache is meant to be
// registered on: no message-size limit (objects are whole messages),
// flow-control windows and buffers sized for bulk transfers, and uploads
// decoded with one copy (flightwire.Codec).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(flightwire.Codec{}),
		grpc.MaxRecvMsgSize(math.MaxInt32),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.InitialWindowSize(8 << 20),
		grpc.InitialConnWindowSize(32 << 20),
		grpc.ReadBufferSize(256 << 10),
		grpc.WriteBufferSize(256 << 10),
	}
}

// Handshake is not supported: the cache has no authentication
// (flame-protocol.md §9). flight.BaseFlightServer would accept it.
func (c *Cache) Handshake(flight.FlightService_HandshakeServer) error {
	return status.Error(codes.Unimplemented, "Handshake is not implemented")
}

// Register adds the Flight service to g, which must be made with
// ServerOptions (downloads are sent through flightwire.Codec).
func (c *Cache) Register(g *grpc.Server) { flight.RegisterFlightServiceServer(g, c) }

// SetAdvertise sets the endpoint put into ObjectRefs (once the listener's
// port is known).
func (c *Cache) SetAdvertise(endpoint string) { c.advertise = endpoint }

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func keyStatus(err error) error {
	var ke *cache.KeyError
	if errors.As(err, &ke) {
		return invalid("%s", ke.Error())
	}
	return err
}

// DoPut stores an upload: a path descriptor with a prefix makes a new
// object, with a full key replaces that object; a "PATCH:<key>" command
// appends a patch.
func (c *Cache) DoPut(stream flight.FlightService_DoPutServer) error {
	rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return invalid("No data received: the upload carried no schema")
		}
		return status.Errorf(status.Code(err), "read the upload: %v", err)
	}
	defer rdr.Release()
	key, patch, err := putTarget(rdr.LatestFlightDescriptor())
	if err != nil {
		return err
	}
	if !patch && key.IsPrefix() {
		key = key.Child(uuid.NewString())
	}
	u, err := c.receive(rdr, key, patch)
	if err != nil {
		return err
	}
	var v uint64
	if patch {
		v, err = c.store.Patch(key, u)
	} else {
		v, err = c.store.Put(key, u)
	}
	if err != nil {
		return err
	}
	ref := cache.ObjectRef{Endpoint: c.advertise, Key: key.String(), Version: int64(v)}
	return stream.Send(&flight.PutResult{AppMetadata: ref.Encode()})
}

func putTarget(d *flight.FlightDescriptor) (k cache.ObjectKey, patch bool, err error) {
	if d == nil {
		return k, false, invalid("key must be provided in descriptor path or command")
	}
	switch d.Type {
	case flight.DescriptorPATH:
		if len(d.Path) == 0 {
			return k, false, invalid("key must be provided in descriptor path or command")
		}
		k, err = cache.ParseKeyOrPrefix(d.Path[0])
		return k, false, keyStatus(err)
	case flight.DescriptorCMD:
		s, ok := bytes.CutPrefix(d.Cmd, []byte(cache.PatchCommand))
		if !ok {
			return k, false, invalid("key must be provided in descriptor path or command (a command must be %q)", cache.PatchCommand+"<app>/<session>/<object>")
		}
		k, err = cache.ParseKey(string(s))
		return k, true, keyStatus(err)
	}
	return k, false, invalid("key must be provided in descriptor path or command")
}

// receive reads the upload's batches. Opaque uploads keep their data cells
// as chunks (spilling to a file past the threshold); native tables keep the
// whole IPC stream.
func (c *Cache) receive(rdr *flight.Reader, key cache.ObjectKey, patch bool) (*upload, error) {
	schema := rdr.Schema()
	if f, ok := schema.Metadata().GetValue(cache.MetaFormat); ok && f == cache.FormatTable && !patch {
		return c.receiveTable(rdr, schema)
	}
	col := schema.FieldIndices("data")
	if len(col) != 1 || !arrow.TypeEqual(schema.Field(col[0]).Type, arrow.BinaryTypes.Binary) {
		return nil, invalid("the upload schema must have a binary column \"data\" (and a uint64 column \"version\"), got %s", schema)
	}
	u := &upload{kind: kindOpaque}
	batches := 0
	for rdr.Next() {
		rec := rdr.RecordBatch()
		batches++
		data := rec.Column(col[0]).(*array.Binary)
		for i := 0; i < data.Len(); i++ {
			// The slice points into this message's own buffer, which
			// nothing reuses, so it is kept without a copy.
			chunk := data.Value(i)
			if err := c.add(u, key, chunk); err != nil {
				u.abort()
				return nil, err
			}
		}
	}
	if err := rdr.Err(); err != nil {
		u.abort()
		return nil, status.Errorf(status.Code(err), "read the upload: %v", err)
	}
	if batches == 0 {
		return nil, invalid("No data received: the upload had a schema but no record batch")
	}
	switch {
	case u.file != nil:
	case len(u.chunks) == 0:
		// Batches without rows: an empty object, still sent as one row.
		u.chunks = [][]byte{nil}
	case len(u.chunks) > 1 && u.size <= 1<<30:
		// Upstream stores the rows of an upload as one blob and sends it
		// back as one row: readers that take the first base row, or one
		// patch per row, depend on it. Only uploads that spilled to disk
		// (too big for one message anyway) keep their chunks, and those past
		// 1 GiB in a cache without a directory (an Arrow binary value holds
		// at most 2 GiB).
		u.chunks = [][]byte{bytes.Join(u.chunks, nil)}
	}
	return u, nil
}

func (c *Cache) add(u *upload, key cache.ObjectKey, chunk []byte) error {
	u.size += int64(len(chunk))
	if u.file != nil {
		return fileErr(u.file.chunk(chunk))
	}
	u.chunks = append(u.chunks, chunk)
	if c.store.dir == "" || c.store.fits(u.size) {
		return nil
	}
	f, err := createBlob(c.store.staging(), u.kind, -1)
	if err != nil {
		return fileErr(err)
	}
	u.file = f
	for _, ch := range u.chunks {
		if err := f.chunk(ch); err != nil {
			return fileErr(err)
		}
	}
	u.chunks = nil
	return nil
}

func fileErr(err error) error {
	if err == nil {
		return nil
	}
	return status.Errorf(codes.Internal, "write the object to disk: %v", err)
}

func (c *Cache) receiveTable(rdr *flight.Reader, schema *arrow.Schema) (*upload, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	n := 0
	for rdr.Next() {
		if err := w.Write(rdr.RecordBatch()); err != nil {
			return nil, status.Errorf(codes.Internal, "keep the table: %v", err)
		}
		n++
	}
	if err := rdr.Err(); err != nil {
		return nil, status.Errorf(status.Code(err), "read the upload: %v", err)
	}
	if n == 0 {
		return nil, invalid("No data received: the upload had a schema but no record batch")
	}
	if err := w.Close(); err != nil {
		return nil, status.Errorf(codes.Internal, "keep the table: %v", err)
	}
	return &upload{kind: kindTable, chunks: [][]byte{buf.Bytes()}, size: int64(buf.Len())}, nil
}

// DoGet streams an object: nothing new, only the patches the client lacks,
// or the base and every patch (flame-protocol.md §9.4).
func (c *Cache) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	ks, have, err := cache.ParseTicket(string(t.Ticket))
	if err != nil {
		return keyStatus(err)
	}
	key, err := cache.ParseKey(ks)
	if err != nil {
		return keyStatus(err)
	}
	// A read that finds its object replaced under it (before it sent any
	// row) starts over from a fresh snapshot.
	for attempt := 1; ; attempt++ {
		sn, err := c.store.Get(key)
		if err != nil {
			return err
		}
		sent, err := c.send(sn, uint64(have), stream)
		if err == errStale && sent == 0 && attempt < 5 {
			continue
		}
		return err
	}
}

// send streams what a client at version have lacks of sn and returns the
// rows sent.
func (c *Cache) send(sn snapshot, have uint64, stream flight.FlightService_DoGetServer) (int, error) {
	// A client already at the current version gets "not modified", tables
	// included (flame-protocol.md §9.4: that row comes first).
	cur := sn.version()
	if sn.base.kind == kindTable && have != cur {
		return 0, c.sendTable(sn, stream)
	}
	var opts []ipc.Option
	opts = append(opts, ipc.WithSchema(cache.ResponseSchema()))
	if c.compress {
		opts = append(opts, ipc.WithZstd())
	}
	// The writer sends the schema with the first row, so a failed attempt
	// that sent no row has sent nothing. It is closed only on success.
	// Chunks go out without a copy where they stay unchanged (flightwire).
	pw := flightwire.NewPayloadWriter(stream, nil)
	w := ipc.NewWriterWithPayloadWriter(pw, opts...)
	sent := 0
	send := func(b *blob, kind string) error {
		return c.store.each(b, func(chunk []byte, kept bool) error {
			rec := cache.ResponseRow(b.version, kind, chunk)
			defer rec.Release()
			sent++
			pw.Copy = !kept
			return w.Write(rec)
		})
	}
	switch {
	case have != 0 && have == cur:
		// Not modified: the schema alone.
	case have != 0 && have < cur && sn.base.version <= have && patchesFollow(sn.patches, have):
		for _, p := range sn.patches {
			if p.version > have {
				if err := send(p, cache.KindPatch); err != nil {
					return sent, err
				}
			}
		}
	default:
		if err := send(sn.base, cache.KindBase); err != nil {
			return sent, err
		}
		for _, p := range sn.patches {
			if err := send(p, cache.KindPatch); err != nil {
				return sent, err
			}
		}
	}
	return sent, w.Close()
}

// patchesFollow reports whether the patches newer than v are exactly
// v+1, v+2, … so that they alone bring a client at v up to date.
func patchesFollow(ps []*blob, v uint64) bool {
	next := v + 1
	for _, p := range ps {
		if p.version <= v {
			continue
		}
		if p.version != next {
			return false
		}
		next++
	}
	return true
}

// sendTable streams a native table object with the stored version in its
// schema metadata (patches do not apply to tables).
func (c *Cache) sendTable(sn snapshot, stream flight.FlightService_DoGetServer) error {
	r, err := c.openTable(sn)
	if err != nil {
		return err
	}
	defer r.Release()
	md := r.Schema().Metadata()
	keys, vals := append([]string(nil), md.Keys()...), append([]string(nil), md.Values()...)
	if i := md.FindKey(cache.MetaVersion); i >= 0 {
		vals[i] = strconv.FormatUint(sn.version(), 10)
	} else {
		keys, vals = append(keys, cache.MetaVersion), append(vals, strconv.FormatUint(sn.version(), 10))
	}
	meta := arrow.NewMetadata(keys, vals)
	schema := arrow.NewSchema(r.Schema().Fields(), &meta)
	opts := []ipc.Option{ipc.WithSchema(schema)}
	if c.compress {
		opts = append(opts, ipc.WithZstd())
	}
	w := flight.NewRecordWriter(stream, opts...)
	defer w.Close()
	for r.Next() {
		rec := r.RecordBatch()
		out := array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
		err := w.Write(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return status.Errorf(codes.DataLoss, "stored table %s cannot be read: %v", sn.base.obj.key, err)
	}
	return w.Close()
}

// GetFlightInfo describes where to get a key; the object need not exist.
func (c *Cache) GetFlightInfo(_ context.Context, d *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if d == nil || len(d.Path) == 0 {
		return nil, invalid("GetFlightInfo needs a descriptor path naming a key")
	}
	key := strings.Join(d.Path, "/")
	info := &flight.FlightInfo{
		FlightDescriptor: &flight.FlightDescriptor{Type: d.Type, Cmd: d.Cmd, Path: []string{key}},
		Endpoint: []*flight.FlightEndpoint{{
			Ticket:   &flight.Ticket{Ticket: []byte(key)},
			Location: []*flight.Location{{Uri: c.advertise}},
		}},
		TotalRecords: -1,
		TotalBytes:   -1,
	}
	if k, err := cache.ParseKey(key); err == nil {
		if sn, err := c.store.Get(k); err == nil && sn.base.kind == kindTable {
			info.Schema = c.tableSchema(sn)
		}
	}
	return info, nil
}

func (c *Cache) tableSchema(sn snapshot) []byte {
	r, err := c.openTable(sn)
	if err != nil {
		return nil
	}
	defer r.Release()
	return flight.SerializeSchema(r.Schema(), memory.DefaultAllocator)
}

// openTable reads a native table object's stored IPC stream.
func (c *Cache) openTable(sn snapshot) (*ipc.Reader, error) {
	var data []byte
	if err := c.store.each(sn.base, func(chunk []byte, _ bool) error {
		data = append(data, chunk...)
		return nil
	}); err != nil {
		return nil, err
	}
	r, err := ipc.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, status.Errorf(codes.DataLoss, "stored table %s cannot be read: %v", sn.base.obj.key, err)
	}
	return r, nil
}

// ListFlights lists the stored objects. As an extension upstream does not
// have, a non-empty criteria expression is a key prefix that filters them,
// and each FlightInfo's app_metadata is the object's BSON ObjectRef.
func (c *Cache) ListFlights(cr *flight.Criteria, stream flight.FlightService_ListFlightsServer) error {
	var match func(cache.ObjectKey) bool
	if cr != nil && len(cr.Expression) > 0 {
		pat, err := cache.ParsePattern(string(cr.Expression))
		if err != nil {
			return keyStatus(err)
		}
		match = pat.Contains
	}
	for _, o := range c.store.List(match) {
		key := o.Key.String()
		ref := cache.ObjectRef{Endpoint: c.advertise, Key: key, Version: int64(o.Version)}
		err := stream.Send(&flight.FlightInfo{
			Endpoint: []*flight.FlightEndpoint{{
				Ticket:   &flight.Ticket{Ticket: []byte(key)},
				Location: []*flight.Location{{Uri: c.advertise}},
			}},
			TotalRecords: -1,
			TotalBytes:   o.Size,
			AppMetadata:  ref.Encode(),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// GetSchema returns the download schema.
func (c *Cache) GetSchema(context.Context, *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	return &flight.SchemaResult{Schema: flight.SerializeSchema(cache.ResponseSchema(), memory.DefaultAllocator)}, nil
}

// ListActions lists DELETE.
func (c *Cache) ListActions(_ *flight.Empty, stream flight.FlightService_ListActionsServer) error {
	return stream.Send(&flight.ActionType{Type: cache.ActionDelete, Description: "Delete objects by key prefix"})
}

// DoAction runs DELETE of a key, a prefix or "<app>/*".
func (c *Cache) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	if a.Type != cache.ActionDelete {
		return invalid("Unknown action type: %s. Only DELETE is supported.", a.Type)
	}
	pat, err := cache.ParsePattern(string(a.Body))
	if err != nil {
		return keyStatus(err)
	}
	if err := c.store.Delete(pat); err != nil {
		return err
	}
	return stream.Send(&flight.Result{Body: []byte("OK")})
}
