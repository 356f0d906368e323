package objectcache

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	"github.com/flmctl/flmctl/pkg/cache"
)

func TestDoPut_PrefixMakesUUIDObjectAtVersion1(t *testing.T) {
	ts := start(t, Options{})
	ref := ts.put(t, pathDesc("app/ssn"), []byte("hello"))
	k := mustParse(t, ref.Key)
	if k.App != "app" || k.Session != "ssn" {
		t.Fatalf("key %q is not under app/ssn", ref.Key)
	}
	id, err := uuid.Parse(k.Object)
	if err != nil || id.Version() != 4 || id.String() != k.Object {
		t.Fatalf("object id %q is not a UUID v4 in canonical form (%v)", k.Object, err)
	}
	if ref.Version != 1 || ref.Endpoint != ts.uri {
		t.Fatalf("ref = %+v, want version 1 at %s", ref, ts.uri)
	}
	other := ts.put(t, pathDesc("app/ssn"), []byte("hello"))
	if other.Key == ref.Key {
		t.Fatalf("two puts to a prefix made the same key %q", ref.Key)
	}
}

func TestDoPut_PutResultIsBSONObjectRef(t *testing.T) {
	ts := start(t, Options{})
	md, err := ts.doPut(t, pathDesc("app/ssn/obj"), cache.UploadSchema(), opaque([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 1 {
		t.Fatalf("%d PutResults, want exactly 1", len(md))
	}
	raw := bson.Raw(md[0])
	if err := raw.Validate(); err != nil {
		t.Fatal(err)
	}
	els, err := raw.Elements()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key string
		typ bson.Type
	}{{"endpoint", bson.TypeString}, {"key", bson.TypeString}, {"version", bson.TypeInt64}}
	if len(els) != len(want) {
		t.Fatalf("ObjectRef has %d elements (%v), want endpoint, key, version", len(els), raw)
	}
	for i, w := range want {
		if els[i].Key() != w.key || els[i].Value().Type != w.typ {
			t.Fatalf("element %d is %q of type %v, want %q of type %v", i, els[i].Key(), els[i].Value().Type, w.key, w.typ)
		}
	}
	if ep := raw.Lookup("endpoint").StringValue(); ep != ts.uri {
		t.Errorf("endpoint = %q, want %q", ep, ts.uri)
	}
	if k := raw.Lookup("key").StringValue(); k != "app/ssn/obj" {
		t.Errorf("key = %q", k)
	}
	if v := raw.Lookup("version").Int64(); v != 1 {
		t.Errorf("version = %d, want 1", v)
	}
}

func TestDoPut_FullKeyCreatesThenBumpsAndDropsPatches(t *testing.T) {
	ts := start(t, Options{})
	const key = "app/ssn/obj"
	if ref := ts.put(t, pathDesc(key), []byte("v1")); ref.Version != 1 || ref.Key != key {
		t.Fatalf("create: %+v", ref)
	}
	if ref := ts.patch(t, key, []byte("p2")); ref.Version != 2 || ref.Key != key || ref.Endpoint != ts.uri {
		t.Fatalf("patch: %+v", ref)
	}
	ts.patch(t, key, []byte("p3"))
	// A put counts from the latest patch and discards the patches.
	if ref := ts.put(t, pathDesc(key), []byte("v4")); ref.Version != 4 {
		t.Fatalf("put after patches: version %d, want 4", ref.Version)
	}
	base, bv, patches := ts.get(t, key+":0").object(t)
	if base != "v4" || bv != 4 || len(patches) != 0 {
		t.Fatalf("after put: base %q@%d, patches %v", base, bv, patches)
	}
	// Only path[0] of a path descriptor counts.
	if ref := ts.put(t, pathDesc(key, "ignored/x/y"), []byte("v5")); ref.Version != 5 || ref.Key != key {
		t.Fatalf("two-element path: %+v", ref)
	}
}

func TestDoPut_Errors(t *testing.T) {
	ts := start(t, Options{})
	ts.put(t, pathDesc("app/ssn/obj"), []byte("x"))

	t.Run("patch of a missing key", func(t *testing.T) {
		_, err := ts.doPut(t, cmdDesc("PATCH:app/ssn/nope"), cache.UploadSchema(), opaque([]byte("d")))
		wantStatus(t, err, codes.NotFound, "object app/ssn/nope not found for patch")
	})
	for _, d := range []*flight.FlightDescriptor{
		cmdDesc("PUT:app/ssn/obj"),
		cmdDesc("patch:app/ssn/obj"),
		cmdDesc(""),
		pathDesc(),
		{Type: flight.DescriptorUNKNOWN, Path: []string{"app/ssn/obj"}},
	} {
		t.Run(fmt.Sprintf("descriptor %v", d), func(t *testing.T) {
			_, err := ts.doPut(t, d, cache.UploadSchema(), opaque([]byte("d")))
			wantStatus(t, err, codes.InvalidArgument, "key must be provided in descriptor path or command")
		})
	}
	schemas := map[string]*arrow.Schema{
		"no data column": arrow.NewSchema([]arrow.Field{{Name: "version", Type: arrow.PrimitiveTypes.Uint64}, {Name: "payload", Type: arrow.BinaryTypes.Binary}}, nil),
		"large binary":   arrow.NewSchema([]arrow.Field{{Name: "version", Type: arrow.PrimitiveTypes.Uint64}, {Name: "data", Type: arrow.BinaryTypes.LargeBinary}}, nil),
		"utf8 data":      arrow.NewSchema([]arrow.Field{{Name: "version", Type: arrow.PrimitiveTypes.Uint64}, {Name: "data", Type: arrow.BinaryTypes.String}}, nil),
	}
	for name, schema := range schemas {
		t.Run(name, func(t *testing.T) {
			b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			defer b.Release()
			b.Field(0).(*array.Uint64Builder).Append(0)
			switch f := b.Field(1).(type) {
			case *array.BinaryBuilder:
				f.Append([]byte("x"))
			case *array.StringBuilder:
				f.Append("x")
			}
			_, err := ts.doPut(t, pathDesc("app/ssn/obj"), schema, b.NewRecordBatch())
			wantStatus(t, err, codes.InvalidArgument, `"data"`)
		})
	}
	t.Run("schema and no batch", func(t *testing.T) {
		_, err := ts.doPut(t, pathDesc("app/ssn/obj"), cache.UploadSchema())
		wantStatus(t, err, codes.InvalidArgument, "No data received")
	})
	t.Run("no message at all", func(t *testing.T) {
		stream, err := ts.client.DoPut(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		_, err = stream.Recv()
		wantStatus(t, err, codes.InvalidArgument, "No data received")
	})
	// None of the failures changed the object.
	base, bv, patches := ts.get(t, "app/ssn/obj").object(t)
	if base != "x" || bv != 1 || len(patches) != 0 {
		t.Fatalf("object after failed puts: %q@%d %v", base, bv, patches)
	}
}

func TestDoPut_ConcatenatesRowsAndBatches(t *testing.T) {
	for _, dir := range []string{"", "disk"} {
		t.Run("dir="+dir, func(t *testing.T) {
			opts := Options{}
			if dir != "" {
				opts.Dir = t.TempDir()
			}
			ts := start(t, opts)
			md, err := ts.doPut(t, pathDesc("app/ssn"), cache.UploadSchema(),
				opaque([]byte("ab"), []byte(""), []byte("cd")), opaque([]byte("ef")), opaque([]byte("g"), []byte("hij")))
			if err != nil || len(md) != 1 {
				t.Fatalf("put: %v, %d results", err, len(md))
			}
			ref, _ := cache.DecodeRef(md[0])
			base, bv, patches := ts.get(t, ref.Key).object(t)
			if base != "abcdefghij" || bv != 1 || len(patches) != 0 {
				t.Fatalf("got %q@%d %v", base, bv, patches)
			}
			// A patch made of several rows is one patch.
			md, err = ts.doPut(t, cmdDesc("PATCH:"+ref.Key), cache.UploadSchema(), opaque([]byte("12")), opaque([]byte("34")))
			if err != nil {
				t.Fatal(err)
			}
			if r, _ := cache.DecodeRef(md[0]); r.Version != 2 {
				t.Fatalf("patch version %d", r.Version)
			}
			_, _, patches = ts.get(t, ref.Key+":0").object(t)
			if len(patches) != 1 || patches[0].version != 2 || patches[0].data != "1234" {
				t.Fatalf("patches %v, want one patch 1234 at version 2", patches)
			}
		})
	}
}

// An upload with a batch but no rows is an empty object, readable like
// any other, as is one empty row.
func TestDoPut_EmptyPayload(t *testing.T) {
	for _, dir := range []string{"", "disk"} {
		t.Run("dir="+dir, func(t *testing.T) {
			opts := Options{}
			if dir != "" {
				opts.Dir = t.TempDir()
			}
			ts := start(t, opts)
			ts.put(t, pathDesc("app/ssn/empty-row"), []byte{})
			ts.put(t, pathDesc("app/ssn/no-rows"))
			for _, key := range []string{"app/ssn/empty-row", "app/ssn/no-rows"} {
				dl := ts.get(t, key)
				if len(dl.rows) != 1 || dl.rows[0] != (gotRow{1, cache.KindBase, ""}) {
					t.Fatalf("%s: rows %v, want one empty base row at version 1", key, dl.rows)
				}
			}
		})
	}
}

func TestDoGet_ResponseSchema(t *testing.T) {
	ts := start(t, Options{})
	ts.put(t, pathDesc("app/ssn/obj"), []byte("x"))
	for _, ticket := range []string{"app/ssn/obj:0", "app/ssn/obj:1"} {
		dl := ts.get(t, ticket)
		want := []arrow.Field{
			{Name: "version", Type: arrow.PrimitiveTypes.Uint64},
			{Name: "kind", Type: arrow.BinaryTypes.String},
			{Name: "data", Type: arrow.BinaryTypes.Binary},
		}
		fs := dl.schema.Fields()
		if len(fs) != len(want) {
			t.Fatalf("%s: schema %v", ticket, dl.schema)
		}
		for i, f := range fs {
			if f.Name != want[i].Name || !arrow.TypeEqual(f.Type, want[i].Type) || f.Nullable {
				t.Fatalf("%s: field %d is %v, want non-null %v", ticket, i, f, want[i])
			}
		}
		if dl.schema.HasMetadata() {
			t.Fatalf("%s: opaque response has schema metadata %v", ticket, dl.schema.Metadata())
		}
	}
}

func TestDoGet_VersionTable(t *testing.T) {
	ts := start(t, Options{Dir: t.TempDir()})
	const key = "app/ssn/obj"
	ts.put(t, pathDesc(key), []byte("base1"))
	ts.patch(t, key, []byte("p2"))
	ts.patch(t, key, []byte("p3"))
	full := []gotRow{{1, "base", "base1"}, {2, "patch", "p2"}, {3, "patch", "p3"}}

	check := func(t *testing.T, ticket string, want []gotRow) {
		t.Helper()
		dl := ts.get(t, ticket)
		if fmt.Sprint(dl.rows) != fmt.Sprint(want) {
			t.Fatalf("%s: rows %v, want %v", ticket, dl.rows, want)
		}
		if dl.batches != len(want) {
			t.Fatalf("%s: %d batches, want one single-row batch per row", ticket, dl.batches)
		}
	}
	t.Run("not modified", func(t *testing.T) { check(t, key+":3", nil) })
	t.Run("patches after the base", func(t *testing.T) { check(t, key+":1", full[1:]) })
	t.Run("last patch", func(t *testing.T) { check(t, key+":2", full[2:]) })
	t.Run("version 0", func(t *testing.T) { check(t, key+":0", full) })
	t.Run("no colon", func(t *testing.T) { check(t, key, full) })
	t.Run("ahead of the server", func(t *testing.T) { check(t, key+":9", full) })

	ts.put(t, pathDesc(key), []byte("base4"))
	t.Run("stale base", func(t *testing.T) { check(t, key+":2", []gotRow{{4, "base", "base4"}}) })
	t.Run("not modified after put", func(t *testing.T) { check(t, key+":4", nil) })
	ts.patch(t, key, []byte("p5"))
	t.Run("patch after put", func(t *testing.T) { check(t, key+":4", []gotRow{{5, "patch", "p5"}}) })
	t.Run("older than the new base", func(t *testing.T) {
		check(t, key+":3", []gotRow{{4, "base", "base4"}, {5, "patch", "p5"}})
	})

	// A gap in the patches (a patch file lost before a restart): what
	// follows it cannot be applied and is dropped, so the object is back at
	// the last version before the gap.
	ts.patch(t, key, []byte("p6"))
	ts.patch(t, key, []byte("p7"))
	dir := ts.c.store.dir
	ts.stop()
	if err := os.Remove(ts.c.store.patchPath(mustParse(t, key), 6)); err != nil {
		t.Fatal(err)
	}
	ts = start(t, Options{Dir: dir})
	t.Run("gap", func(t *testing.T) { check(t, key+":5", nil) })
	t.Run("after the gap", func(t *testing.T) {
		check(t, key+":7", []gotRow{{4, "base", "base4"}, {5, "patch", "p5"}})
	})
	if _, err := os.Stat(ts.c.store.patchPath(mustParse(t, key), 7)); !os.IsNotExist(err) {
		t.Fatalf("the patch after the gap is still on disk: %v", err)
	}
}

func TestDoGet_Errors(t *testing.T) {
	ts := start(t, Options{})
	ts.put(t, pathDesc("app/ssn/obj"), []byte("x"))
	for _, ticket := range []string{"app/ssn/obj:x", "app/ssn/obj:1.5", "app/ssn/obj:-1", "app/ssn/obj:", "app/ssn/obj:1:2"} {
		_, err := ts.doGet(t, ticket)
		wantStatus(t, err, codes.InvalidArgument, "version")
	}
	_, err := ts.doGet(t, "app/ssn/missing:0")
	wantStatus(t, err, codes.NotFound, "object app/ssn/missing not found")
	_, err = ts.doGet(t, "app/other/obj")
	wantStatus(t, err, codes.NotFound, "object app/other/obj not found")
}

// tableSchema is a native table schema as flamepy sends it.
func tableSchema(logical string) *arrow.Schema {
	md := arrow.NewMetadata(
		[]string{cache.MetaFormat, cache.MetaVersion, cache.MetaLogicalType, "pandas"},
		[]string{cache.FormatTable, "0", logical, `{"index_columns": []}`})
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}, &md)
}

func tableBatch(schema *arrow.Schema, from, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%3 == 0 {
			b.Field(1).(*array.StringBuilder).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row-%d", i))
		}
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
	}
	return b.NewRecordBatch()
}

func TestNativeTable(t *testing.T) {
	for _, opts := range []Options{{}, {Compress: true}, {Dir: "disk"}} {
		t.Run(fmt.Sprintf("dir=%s,zstd=%v", opts.Dir, opts.Compress), func(t *testing.T) {
			if opts.Dir != "" {
				opts.Dir = t.TempDir()
			}
			ts := start(t, opts)
			schema := tableSchema("pandas.dataframe")
			md, err := ts.doPut(t, pathDesc("app/ssn"), schema, tableBatch(schema, 0, 5), tableBatch(schema, 5, 3))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := cache.DecodeRef(md[0])
			if err != nil || ref.Version != 1 {
				t.Fatalf("ref %+v, %v", ref, err)
			}
			check := func(version string) {
				t.Helper()
				dl := ts.get(t, ref.Key+":0")
				if !dl.schema.Equal(schema) {
					t.Fatalf("schema %v, want the fields of %v", dl.schema, schema)
				}
				got := dl.schema.Metadata()
				for k, want := range map[string]string{
					cache.MetaFormat: cache.FormatTable, cache.MetaVersion: version,
					cache.MetaLogicalType: "pandas.dataframe", "pandas": `{"index_columns": []}`,
				} {
					if v, ok := got.GetValue(k); !ok || v != want {
						t.Fatalf("metadata %s = %q (%v), want %q", k, v, ok, want)
					}
				}
				if got.Len() != 4 {
					t.Fatalf("metadata %v has extra keys", got)
				}
				if len(dl.records) != 2 {
					t.Fatalf("%d batches, want 2", len(dl.records))
				}
				for i, want := range []arrow.RecordBatch{tableBatch(schema, 0, 5), tableBatch(schema, 5, 3)} {
					if !array.RecordEqual(dl.records[i], want) {
						t.Fatalf("batch %d = %v, want %v", i, dl.records[i], want)
					}
					want.Release()
				}
			}
			check("1")
			if opts.Dir != "" {
				ts.stop()
				ts = start(t, Options{Dir: opts.Dir, Compress: opts.Compress})
			}
			md, err = ts.doPut(t, pathDesc(ref.Key), schema, tableBatch(schema, 0, 5), tableBatch(schema, 5, 3))
			if err != nil {
				t.Fatal(err)
			}
			if r, _ := cache.DecodeRef(md[0]); r.Version != 2 {
				t.Fatalf("update version %d", r.Version)
			}
			check("2")
			// A client that already has the current version gets nothing.
			if dl := ts.get(t, ref.Key+":2"); dl.batches != 0 {
				t.Fatalf("not modified table: %d batches", dl.batches)
			}

			info, err := ts.client.GetFlightInfo(ctxT(t), pathDesc(ref.Key))
			if err != nil {
				t.Fatal(err)
			}
			s, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Equal(schema) {
				t.Fatalf("flight info schema %v", s)
			}
			if v, _ := s.Metadata().GetValue(cache.MetaFormat); v != cache.FormatTable {
				t.Fatalf("flight info schema metadata %v", s.Metadata())
			}
			if v, _ := s.Metadata().GetValue(cache.MetaLogicalType); v != "pandas.dataframe" {
				t.Fatalf("flight info schema metadata %v", s.Metadata())
			}
		})
	}
}

func TestGetFlightInfo(t *testing.T) {
	ts := start(t, Options{})
	ctx := ctxT(t)
	ts.put(t, pathDesc("app/ssn/obj"), []byte("x"))
	for _, d := range []*flight.FlightDescriptor{
		pathDesc("app/ssn/obj"),
		pathDesc("app", "ssn", "obj"),
		pathDesc("app/ssn/missing"),
		{Type: flight.DescriptorCMD, Cmd: []byte("c"), Path: []string{"app/ssn", "x"}},
	} {
		info, err := ts.client.GetFlightInfo(ctx, d)
		if err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		key := strings.Join(d.Path, "/")
		fd := info.FlightDescriptor
		if fd == nil || fd.Type != d.Type || string(fd.Cmd) != string(d.Cmd) || len(fd.Path) != 1 || fd.Path[0] != key {
			t.Fatalf("%v: descriptor %v, want path [%s]", d, fd, key)
		}
		if len(info.Endpoint) != 1 || string(info.Endpoint[0].Ticket.GetTicket()) != key ||
			len(info.Endpoint[0].Location) != 1 || info.Endpoint[0].Location[0].Uri != ts.uri {
			t.Fatalf("%v: endpoints %v", d, info.Endpoint)
		}
		if info.TotalRecords != -1 || info.TotalBytes != -1 || info.Ordered || len(info.Schema) != 0 {
			t.Fatalf("%v: info %v", d, info)
		}
	}
	_, err := ts.client.GetFlightInfo(ctx, pathDesc())
	wantStatus(t, err, codes.InvalidArgument, "")
	_, err = ts.client.GetFlightInfo(ctx, cmdDesc("PATCH:app/ssn/obj"))
	wantStatus(t, err, codes.InvalidArgument, "")
}

func TestListFlights(t *testing.T) {
	ts := start(t, Options{})
	a := ts.put(t, pathDesc("app1/s1/a"), []byte("12345"))
	ts.patch(t, a.Key, []byte("678"))
	b := ts.put(t, pathDesc("app1/s1"), []byte("xy"))
	c := ts.put(t, pathDesc("app1/s2/c"), []byte("z"))
	d := ts.put(t, pathDesc("app2/s1/d"), []byte(""))
	sizes := map[string]int64{a.Key: 8, b.Key: 2, c.Key: 1, d.Key: 0}
	versions := map[string]int64{a.Key: 2, b.Key: 1, c.Key: 1, d.Key: 1}

	list := func(criteria string) ([]string, error) {
		stream, err := ts.client.ListFlights(ctxT(t), &flight.Criteria{Expression: []byte(criteria)})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for {
			info, err := stream.Recv()
			if err == io.EOF {
				return keys, nil
			}
			if err != nil {
				return keys, err
			}
			if len(info.Endpoint) != 1 || len(info.Endpoint[0].Location) != 1 || info.Endpoint[0].Location[0].Uri != ts.uri {
				t.Fatalf("endpoints %v", info.Endpoint)
			}
			key := string(info.Endpoint[0].Ticket.GetTicket())
			if info.TotalBytes != sizes[key] || info.TotalRecords != -1 || len(info.Schema) != 0 || info.FlightDescriptor != nil {
				t.Fatalf("%s: info %v, want total_bytes %d", key, info, sizes[key])
			}
			ref, err := cache.DecodeRef(info.AppMetadata)
			if err != nil || ref != (cache.ObjectRef{Endpoint: ts.uri, Key: key, Version: versions[key]}) {
				t.Fatalf("%s: app_metadata %+v (%v)", key, ref, err)
			}
			keys = append(keys, key)
		}
	}
	for criteria, want := range map[string]int{"": 4, "app1/s1": 2, "app1/*": 3, "app2/s1/d": 1, "app3/s": 0, "app1/s1/zzz": 0} {
		keys, err := list(criteria)
		if err != nil || len(keys) != want {
			t.Fatalf("criteria %q: %v (%v), want %d objects", criteria, keys, err, want)
		}
		for i := 1; i < len(keys); i++ {
			if keys[i-1] >= keys[i] {
				t.Fatalf("criteria %q: keys not sorted: %v", criteria, keys)
			}
		}
	}
	_, err := list("app1/../x")
	wantStatus(t, err, codes.InvalidArgument, `".."`)
}

func TestGetSchemaAndListActions(t *testing.T) {
	ts := start(t, Options{})
	ctx := ctxT(t)
	for _, d := range []*flight.FlightDescriptor{pathDesc("app/ssn/obj"), pathDesc(), cmdDesc("x")} {
		res, err := ts.client.GetSchema(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		s, err := flight.DeserializeSchema(res.Schema, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Equal(cache.ResponseSchema()) {
			t.Fatalf("GetSchema(%v) = %v", d, s)
		}
	}
	stream, err := ts.client.ListActions(ctx, &flight.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []*flight.ActionType
	for {
		a, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
	}
	if len(actions) != 1 || actions[0].Type != "DELETE" || actions[0].Description != "Delete objects by key prefix" {
		t.Fatalf("actions %v", actions)
	}
}

// doAction runs an action and returns the bodies of its results.
func (ts *testServer) doAction(t *testing.T, typ, body string) ([]string, error) {
	t.Helper()
	stream, err := ts.client.DoAction(ctxT(t), &flight.Action{Type: typ, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(r.Body))
	}
}

func TestDoAction_Delete(t *testing.T) {
	for _, dir := range []string{"", "disk"} {
		t.Run("dir="+dir, func(t *testing.T) {
			opts := Options{}
			if dir != "" {
				opts.Dir = t.TempDir()
			}
			ts := start(t, opts)
			keys := []string{"app1/s1/a", "app1/s1/b", "app1/s2/c", "app1/s3/d", "app2/s1/a", "app10/s1/a"}
			for _, k := range keys {
				ts.put(t, pathDesc(k), []byte(k))
				ts.patch(t, k, []byte("p"))
			}
			exists := func() map[string]bool {
				m := map[string]bool{}
				for _, k := range keys {
					_, err := ts.doGet(t, k)
					m[k] = err == nil
				}
				return m
			}
			steps := []struct {
				body string
				gone []string
			}{
				{"app1/s1/a", []string{"app1/s1/a"}},
				{"app1/s1/a", nil}, // nothing to delete is fine
				{"app1/s2", []string{"app1/s2/c"}},
				{"app1/*", []string{"app1/s1/b", "app1/s3/d"}},
				{"nobody/*", nil},
			}
			gone := map[string]bool{}
			for _, st := range steps {
				res, err := ts.doAction(t, "DELETE", st.body)
				if err != nil || len(res) != 1 || res[0] != "OK" {
					t.Fatalf("DELETE %s: %v %v, want one result OK", st.body, res, err)
				}
				for _, k := range st.gone {
					gone[k] = true
				}
				for k, ok := range exists() {
					if ok == gone[k] {
						t.Fatalf("after DELETE %s: %s exists=%v", st.body, k, ok)
					}
				}
			}
			if dir != "" {
				// What was deleted stays deleted after a restart.
				ts.stop()
				ts = start(t, opts)
				for k, ok := range exists() {
					if ok == gone[k] {
						t.Fatalf("after restart: %s exists=%v", k, ok)
					}
				}
			}
			// A deleted key continues after its last version (2), so that a
			// client holding that version is not told "not modified"; the
			// memory of it does not survive a restart.
			want := int64(3)
			if dir != "" {
				want = 1
			}
			if ref := ts.put(t, pathDesc("app1/s1/a"), []byte("new")); ref.Version != want {
				t.Fatalf("recreated at version %d, want %d", ref.Version, want)
			}
		})
	}
}

func TestDoAction_UnknownAndUnimplemented(t *testing.T) {
	ts := start(t, Options{})
	ctx := ctxT(t)
	for _, typ := range []string{"X", "delete", "CLEAR"} {
		_, err := ts.doAction(t, typ, "app/ssn")
		wantStatus(t, err, codes.InvalidArgument, "Unknown action type: "+typ+". Only DELETE is supported.")
	}
	hs, err := ts.client.Handshake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = hs.Recv()
	wantStatus(t, err, codes.Unimplemented, "")
	ex, err := ts.client.DoExchange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ex.Recv()
	wantStatus(t, err, codes.Unimplemented, "")
	_, err = ts.client.PollFlightInfo(ctx, pathDesc("app/ssn/obj"))
	wantStatus(t, err, codes.Unimplemented, "")
}

// The SDK checks keys before sending, so only a raw client reaches these
// server-side rules.
func TestKeyRules(t *testing.T) {
	ts := start(t, Options{Dir: t.TempDir()})
	ts.put(t, pathDesc("app/ssn/obj"), []byte("x"))
	long := strings.Repeat("a", 201)
	const (
		shape   = "expected"
		empty   = "is empty"
		dots    = `".."`
		sep     = `must not contain '\' or ':'`
		star    = `"*" is only allowed as the whole session component`
		wild    = `the wildcard "<app>/*"`
		control = "control characters"
		tooLong = "longer than 200 bytes"
	)
	type bad struct{ key, rule string }
	common := []bad{
		{"app", shape}, {"", shape}, {"a/b/c/d", shape}, {"/ssn/obj", empty}, {"app//obj", empty},
		{"app/ssn/", empty}, {"../ssn/obj", dots}, {"app/../obj", dots}, {"app/ssn/..", dots},
		{"app/ssn/a..b", dots}, {"app/./obj", dots}, {`app\x/ssn/obj`, sep}, {`app/ssn/o\bj`, sep},
		{"app/s:1/obj", sep}, {"app/*/obj", wild}, {"*/ssn/obj", star}, {"app/ssn/*", star},
		{"app/s*/obj", star}, {"app/ssn/ob\x01j", control}, {"app/ssn/ob\x7fj", control},
		{"app/ssn/" + long, tooLong},
	}
	prefixOnly := []bad{{"app/*", wild}, {"*/ssn", star}, {"../ssn", dots}, {"app/", empty}, {"app/s:x", sep}}
	fullOnly := []bad{{"app/ssn", shape}, {"app/*", shape}}

	t.Run("put path", func(t *testing.T) {
		for _, b := range append(append([]bad{}, common...), prefixOnly...) {
			_, err := ts.doPut(t, pathDesc(b.key), cache.UploadSchema(), opaque([]byte("x")))
			wantStatus(t, err, codes.InvalidArgument, b.rule)
		}
	})
	t.Run("patch key", func(t *testing.T) {
		for _, b := range append(append([]bad{}, common...), fullOnly...) {
			_, err := ts.doPut(t, cmdDesc("PATCH:"+b.key), cache.UploadSchema(), opaque([]byte("x")))
			wantStatus(t, err, codes.InvalidArgument, b.rule)
		}
	})
	t.Run("ticket", func(t *testing.T) {
		for _, b := range append(append([]bad{}, common...), fullOnly...) {
			if strings.Contains(b.key, ":") {
				continue // the ':' splits off the version instead
			}
			for _, ticket := range []string{b.key, b.key + ":0", b.key + ":1"} {
				_, err := ts.doGet(t, ticket)
				wantStatus(t, err, codes.InvalidArgument, b.rule)
			}
		}
	})
	t.Run("delete body", func(t *testing.T) {
		for _, b := range append(append([]bad{}, common...), bad{"*/ssn", star}, bad{"app/", empty}, bad{"a/*/", wild}) {
			_, err := ts.doAction(t, "DELETE", b.key)
			wantStatus(t, err, codes.InvalidArgument, b.rule)
		}
	})
	// The errors name the key.
	_, err := ts.doGet(t, "app/../x:0")
	wantStatus(t, err, codes.InvalidArgument, `"app/../x"`)
	// Nothing was written or deleted.
	if objs := ts.c.store.List(nil); len(objs) != 1 || objs[0].Key.String() != "app/ssn/obj" {
		t.Fatalf("store holds %v", objs)
	}
}
