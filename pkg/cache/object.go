package cache

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/internal/flightwire"
	"github.com/flmctl/flmctl/pkg/cache/internal/pickle"
	"github.com/flmctl/flmctl/pkg/client"
)

// PutOption changes how Put, Update and Patch store data.
type PutOption func(*putOptions)

type putOptions struct{ raw bool }

// Raw stores the bytes exactly as given. By default they are wrapped the way
// flamepy stores a Python bytes object ("FLM\x00" and a pickle of it, 14
// bytes more), so that Python's get_object reads them as bytes. Get reads
// both forms.
func Raw() PutOption { return func(o *putOptions) { o.raw = true } }

// payload is the row that stores data: data itself with Raw (callers
// reports that it is the caller's memory), else a new buffer with data
// wrapped as flamepy wraps bytes.
func payload(data []byte, opts []PutOption) (row []byte, callers bool) {
	var o putOptions
	for _, f := range opts {
		f(&o)
	}
	if o.raw {
		return data, true
	}
	return pickle.AppendBytes(append(make([]byte, 0, len(data)+32), pickle.Prefix...), data), false
}

// Put stores data as a new object under a prefix "<app>/<session>" (the
// server picks the object id) or at a full key (replacing what is there),
// and returns its reference.
func (c *Client) Put(ctx context.Context, keyOrPrefix string, data []byte, opts ...PutOption) (ObjectRef, error) {
	k, err := ParseKeyOrPrefix(keyOrPrefix)
	if err != nil {
		return ObjectRef{}, keyErr(err)
	}
	row, callers := payload(data, opts)
	return c.putRow(ctx, "put "+keyOrPrefix, c.endpoint, pathDescriptor(k), row, callers)
}

// Update replaces the object ref points at with data, on the server the
// reference names, and returns the reference to the new version.
func (c *Client) Update(ctx context.Context, ref ObjectRef, data []byte, opts ...PutOption) (ObjectRef, error) {
	k, err := ParseKey(ref.Key)
	if err != nil {
		return ObjectRef{}, keyErr(err)
	}
	defer c.local.remove(localKey{ref.Endpoint, ref.Key})
	row, callers := payload(data, opts)
	return c.putRow(ctx, "update "+ref.Key, ref.Endpoint, pathDescriptor(k), row, callers)
}

// Patch appends delta to the object ref points at and returns the
// reference to the new version. Get returns the base alone; GetParts
// returns the base and its patches.
func (c *Client) Patch(ctx context.Context, ref ObjectRef, delta []byte, opts ...PutOption) (ObjectRef, error) {
	k, err := ParseKey(ref.Key)
	if err != nil {
		return ObjectRef{}, keyErr(err)
	}
	defer c.local.remove(localKey{ref.Endpoint, ref.Key})
	d := &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte(PatchCommand + k.String())}
	row, callers := payload(delta, opts)
	return c.putRow(ctx, "patch "+ref.Key, ref.Endpoint, d, row, callers)
}

func pathDescriptor(k ObjectKey) *flight.FlightDescriptor {
	return &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{k.String()}}
}

// putRow uploads row as a one-row batch; callers says that row is the
// caller's memory.
func (c *Client) putRow(ctx context.Context, op, endpoint string, d *flight.FlightDescriptor, row []byte, callers bool) (ObjectRef, error) {
	sent := false
	return c.upload(ctx, op, endpoint, d, callers, func() ([]byte, error) {
		if sent {
			return nil, io.EOF
		}
		sent = true
		return row, nil
	})
}

// upload sends the chunks next returns (until io.EOF) and reads the
// server's ObjectRef. Chunks are sent in place (flightwire) unless copyChunks
// is set: for chunks in a buffer that next reuses, or in the caller's memory,
// which gRPC may still be reading when a failed upload returns (a
// successful one returns after the server has received everything).
func (c *Client) upload(ctx context.Context, op, endpoint string, d *flight.FlightDescriptor, copyChunks bool, next func() ([]byte, error)) (ObjectRef, error) {
	if endpoint == "" {
		endpoint = c.endpoint
	}
	fc, err := c.conn(endpoint)
	if err != nil {
		return ObjectRef{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := fc.DoPut(ctx)
	if err != nil {
		return ObjectRef{}, wrap(op, endpoint, err)
	}
	pw := flightwire.NewPayloadWriter(stream, d)
	pw.Copy = copyChunks
	w := ipc.NewWriterWithPayloadWriter(pw, ipc.WithSchema(UploadSchema()))
	var sendErr error
	for {
		chunk, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ObjectRef{}, err
		}
		rec := UploadRow(chunk)
		sendErr = w.Write(rec)
		rec.Release()
		if sendErr != nil {
			break
		}
	}
	if sendErr == nil {
		sendErr = w.Close()
	}
	_ = stream.CloseSend()
	// A failed send means the server ended the stream: its reason comes
	// with Recv.
	pr, err := stream.Recv()
	if err != nil {
		if err == io.EOF && sendErr != nil {
			err = sendErr
		}
		if err == io.EOF {
			return ObjectRef{}, client.NewError(client.CodeInternal, op+": the cache server returned no result", nil)
		}
		return ObjectRef{}, wrap(op, endpoint, err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	ref, err := DecodeRef(pr.AppMetadata)
	if err != nil {
		return ObjectRef{}, client.NewError(client.CodeInternal, op+": "+err.Error(), err)
	}
	return ref, nil
}

// Get returns the base object ref points at, read from the server the
// reference names. Data stored by flamepy as a Python bytes (or str) object
// and data put by this package come back as the bytes that were put; data
// that is not in flamepy's format comes back as stored. Other Python values
// are an error: read them with GetValue.
//
// A version of 0 downloads the whole object; otherwise a copy held by this
// client is brought up to date with only the patches it lacks. The bytes
// returned are shared with that copy (no copy is made, whatever the size):
// do not modify them.
func (c *Client) Get(ctx context.Context, ref ObjectRef) ([]byte, error) {
	ent, err := c.fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	return bytesOf(ref, ent.base)
}

// GetParts returns the base object and its patches, in version order, each
// decoded as Get decodes the base. It is the seed's get_object with a
// deserializer: combine them as the application defines. As with Get, the
// bytes are shared with the client's copy: do not modify them.
func (c *Client) GetParts(ctx context.Context, ref ObjectRef) (base []byte, patches [][]byte, err error) {
	ent, err := c.fetch(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if base, err = bytesOf(ref, ent.base); err != nil {
		return nil, nil, err
	}
	for i, p := range ent.patches {
		b, err := bytesOf(ref, p)
		if err != nil {
			return nil, nil, fmt.Errorf("patch %d: %w", i+1, err)
		}
		patches = append(patches, b)
	}
	return base, patches, nil
}

// GetValue returns the base object as a Go value: what a Python pickle of
// None, bool, int, float, str, bytes, list, tuple, dict or set decodes to
// (nil, bool, int64 or *big.Int, float64, string, []byte, []any,
// map[string]any or map[any]any), or the raw bytes of an object that is not
// in flamepy's format.
func (c *Client) GetValue(ctx context.Context, ref ObjectRef) (any, error) {
	ent, err := c.fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	v, ok, err := pickle.Decode(ent.base)
	if !ok {
		return ent.base, nil
	}
	if err != nil {
		return nil, client.NewError(client.CodeInvalidArgument, fmt.Sprintf("object %s: %v", ref.Key, err), err)
	}
	return v, nil
}

// bytesOf unwraps a payload stored in flamepy's format.
func bytesOf(ref ObjectRef, p []byte) ([]byte, error) {
	v, ok, err := pickle.Decode(p)
	if !ok {
		return p, nil
	}
	if err != nil {
		return nil, client.NewError(client.CodeInvalidArgument, fmt.Sprintf("object %s is in flamepy's format but cannot be read: %v", ref.Key, err), err)
	}
	switch v := v.(type) {
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return nil, client.NewError(client.CodeInvalidArgument,
		fmt.Sprintf("object %s holds a Python %s, not bytes: read it with GetValue (flmctl cache get prints it as JSON)", ref.Key, pickle.TypeName(v)), nil)
}

// fetch brings the local copy of ref up to date and returns it.
func (c *Client) fetch(ctx context.Context, ref ObjectRef) (localEntry, error) {
	if _, err := ParseKey(ref.Key); err != nil {
		return localEntry{}, keyErr(err)
	}
	id := localKey{ref.Endpoint, ref.Key}
	var have localEntry
	var cached bool
	if ref.Version != 0 {
		have, cached = c.local.get(id)
	}
	var from int64
	if cached {
		from = have.version
	}
	got, err := c.doGet(ctx, ref, from)
	if err != nil {
		return localEntry{}, err
	}
	switch {
	case got.full:
		ent := localEntry{id: id, version: got.version, base: got.base, patches: got.patches}
		c.local.put(ent)
		return ent, nil
	case !cached:
		return localEntry{}, client.NewError(client.CodeInternal, fmt.Sprintf("get %s: the cache server sent patches for a version this client does not hold", ref.Key), nil)
	case len(got.patches) == 0:
		return have, nil
	}
	ent := localEntry{id: id, version: got.version, base: have.base,
		patches: append(append([][]byte(nil), have.patches...), got.patches...)}
	if now, ok := c.local.get(id); ok && now.version != have.version {
		// Someone else refreshed the entry meanwhile: start over.
		c.local.remove(id)
		return c.fetch(ctx, ObjectRef{Endpoint: ref.Endpoint, Key: ref.Key})
	}
	c.local.put(ent)
	return ent, nil
}

type download struct {
	full    bool
	version int64
	base    []byte
	patches [][]byte
}

// doGet asks for key at version from and collects the rows. A download
// that met a concurrent replacement on the server (ABORTED) is tried again.
func (c *Client) doGet(ctx context.Context, ref ObjectRef, from int64) (download, error) {
	for attempt := 1; ; attempt++ {
		d, err := c.doGetOnce(ctx, ref, from)
		if status.Code(errors.Unwrap(err)) == codes.Aborted && attempt < 4 {
			continue
		}
		return d, err
	}
}

func (c *Client) doGetOnce(ctx context.Context, ref ObjectRef, from int64) (download, error) {
	var d download
	var base [][]byte
	err := c.stream(ctx, "get "+ref.Key, ref, from, func(version uint64, kind string, data []byte) error {
		if int64(version) > d.version {
			d.version = int64(version)
		}
		switch kind {
		case KindBase:
			d.full = true
			base = append(base, data)
		case KindPatch:
			d.patches = append(d.patches, data)
		default:
			return client.NewError(client.CodeInternal, fmt.Sprintf("get %s: the cache server sent a row of unknown kind %q", ref.Key, kind), nil)
		}
		return nil
	})
	if err != nil {
		return download{}, err
	}
	if len(base) == 1 {
		d.base = base[0]
	} else if len(base) > 1 {
		d.base = concat(base)
	}
	if !d.full && from == 0 {
		return download{}, client.NewError(client.CodeNotFound, fmt.Sprintf("get %s: the cache server sent no data", ref.Key), nil)
	}
	return d, nil
}

func concat(parts [][]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// ticketHook, when set (by tests), sees every DoGet ticket.
var ticketHook func(ticket string)

// stream runs DoGet for ref at version from and calls row for each row.
func (c *Client) stream(ctx context.Context, op string, ref ObjectRef, from int64, row func(version uint64, kind string, data []byte) error) error {
	endpoint := ref.Endpoint
	if endpoint == "" {
		endpoint = c.endpoint
	}
	fc, err := c.conn(endpoint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ticket := Ticket(ref.Key, from)
	if ticketHook != nil {
		ticketHook(string(ticket))
	}
	s, err := fc.DoGet(ctx, &flight.Ticket{Ticket: ticket})
	if err != nil {
		return wrap(op, endpoint, err)
	}
	r, err := flight.NewRecordReader(s)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return client.NewError(client.CodeInternal, op+": the cache server sent nothing", err)
		}
		return wrap(op, endpoint, err)
	}
	defer r.Release()
	schema := r.Schema()
	if f, ok := schema.Metadata().GetValue(MetaFormat); ok && f == FormatTable {
		return client.NewError(client.CodeInvalidArgument, fmt.Sprintf("%s: the object is an Arrow table (%s), which this client does not read", op, schema), nil)
	}
	vi, ki, di := schema.FieldIndices("version"), schema.FieldIndices("kind"), schema.FieldIndices("data")
	if len(vi) != 1 || len(ki) != 1 || len(di) != 1 {
		return client.NewError(client.CodeInternal, fmt.Sprintf("%s: unexpected download schema %s", op, schema), nil)
	}
	for r.Next() {
		rec := r.RecordBatch()
		vc, ok1 := rec.Column(vi[0]).(*array.Uint64)
		kc, ok2 := rec.Column(ki[0]).(*array.String)
		dc, ok3 := rec.Column(di[0]).(*array.Binary)
		if !ok1 || !ok2 || !ok3 {
			return client.NewError(client.CodeInternal, fmt.Sprintf("%s: unexpected download schema %s", op, schema), nil)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			if err := row(vc.Value(i), kc.Value(i), dc.Value(i)); err != nil {
				return err
			}
		}
	}
	if err := r.Err(); err != nil {
		return wrap(op, endpoint, err)
	}
	return nil
}

// Delete removes a key, every object under a prefix "<app>/<session>", or
// every object of an application ("<app>/*"). Deleting nothing succeeds.
func (c *Client) Delete(ctx context.Context, pattern string) error {
	pat, err := ParsePattern(pattern)
	if err != nil {
		return keyErr(err)
	}
	defer c.local.removeMatching(pat)
	op := "delete " + pattern
	fc, err := c.conn(c.endpoint)
	if err != nil {
		return err
	}
	s, err := fc.DoAction(ctx, &flight.Action{Type: ActionDelete, Body: []byte(pat.String())})
	if err != nil {
		return wrap(op, c.endpoint, err)
	}
	results := 0
	for {
		_, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return wrap(op, c.endpoint, err)
		}
		results++
	}
	if results == 0 {
		return client.NewError(client.CodeInternal, op+": the cache server sent no result", nil)
	}
	return nil
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Ref  ObjectRef // Version is 0 when the server does not say
	Size int64     // bytes of the base and its patches; -1 when unknown
}

// List returns the objects the server holds under pattern (a prefix, a
// key, "<app>/*", or "" for all).
func (c *Client) List(ctx context.Context, pattern string) ([]ObjectInfo, error) {
	var pat ObjectKey
	if pattern != "" {
		var err error
		if pat, err = ParsePattern(pattern); err != nil {
			return nil, keyErr(err)
		}
	}
	op := "list"
	fc, err := c.conn(c.endpoint)
	if err != nil {
		return nil, err
	}
	s, err := fc.ListFlights(ctx, &flight.Criteria{Expression: []byte(pattern)})
	if err != nil {
		return nil, wrap(op, c.endpoint, err)
	}
	var out []ObjectInfo
	for {
		fi, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, wrap(op, c.endpoint, err)
		}
		info := ObjectInfo{Size: fi.TotalBytes}
		if ref, err := DecodeRef(fi.AppMetadata); err == nil {
			info.Ref = ref
		} else if len(fi.Endpoint) > 0 && fi.Endpoint[0].Ticket != nil {
			info.Ref.Key = string(fi.Endpoint[0].Ticket.Ticket)
			if len(fi.Endpoint[0].Location) > 0 {
				info.Ref.Endpoint = fi.Endpoint[0].Location[0].Uri
			}
		}
		// Upstream ignores the criteria: filter here too.
		if k, err := ParseKey(info.Ref.Key); pattern != "" && (err != nil || !pat.Contains(k)) {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}
