package cache

import (
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The wire format of Flame's object cache (Arrow Flight), shared by this
// client and the embedded server.

// Schema metadata keys.
const (
	MetaFormat      = "flame.cache.format"
	MetaVersion     = "flame.cache.version"
	MetaLogicalType = "flame.cache.logical_type"
	// FormatTable marks a native Arrow table object.
	FormatTable = "arrow-table-v1"
)

// Row kinds in a download.
const (
	KindBase  = "base"
	KindPatch = "patch"
)

// PatchCommand prefixes the command descriptor of a patch upload.
const PatchCommand = "PATCH:"

// ActionDelete is the only action the cache server knows.
const ActionDelete = "DELETE"

// ChunkSize is how much of a file one uploaded row carries.
const ChunkSize = 1 << 20

var (
	uploadSchema = arrow.NewSchema([]arrow.Field{
		{Name: "version", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "data", Type: arrow.BinaryTypes.Binary},
	}, nil)
	responseSchema = arrow.NewSchema([]arrow.Field{
		{Name: "version", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "kind", Type: arrow.BinaryTypes.String},
		{Name: "data", Type: arrow.BinaryTypes.Binary},
	}, nil)
)

// UploadSchema is the schema of an opaque upload: {version uint64, data binary}.
func UploadSchema() *arrow.Schema { return uploadSchema }

// ResponseSchema is the schema of a download: {version uint64, kind utf8,
// data binary}.
func ResponseSchema() *arrow.Schema { return responseSchema }

// Ticket returns the DoGet ticket for key at the version the client holds.
func Ticket(key string, version int64) []byte {
	return []byte(key + ":" + strconv.FormatInt(version, 10))
}

// ParseTicket splits a DoGet ticket "<key>[:<version>]" at the first ':'.
// No ':' means version 0.
func ParseTicket(t string) (key string, version int64, err error) {
	key, v, found := strings.Cut(t, ":")
	if !found {
		return key, 0, nil
	}
	version, err = strconv.ParseInt(v, 10, 64)
	if err != nil || version < 0 {
		return key, 0, &KeyError{Key: t, Rule: "the version after ':' must be a non-negative integer"}
	}
	return key, version, nil
}

// UploadRow builds a one-row batch of the upload schema around data,
// without copying it (version 0, as clients send).
func UploadRow(data []byte) arrow.RecordBatch {
	vers, d := versionColumn(0), binaryColumn(arrow.BinaryTypes.Binary, data)
	defer vers.Release()
	defer d.Release()
	return array.NewRecordBatch(uploadSchema, []arrow.Array{vers, d}, 1)
}

// ResponseRow builds a one-row batch of the download schema around data,
// without copying it.
func ResponseRow(version uint64, kind string, data []byte) arrow.RecordBatch {
	vers := versionColumn(version)
	kinds := binaryColumn(arrow.BinaryTypes.String, []byte(kind))
	d := binaryColumn(arrow.BinaryTypes.Binary, data)
	defer vers.Release()
	defer kinds.Release()
	defer d.Release()
	return array.NewRecordBatch(responseSchema, []arrow.Array{vers, kinds, d}, 1)
}

func versionColumn(v uint64) arrow.Array {
	buf := memory.NewBufferBytes(arrow.Uint64Traits.CastToBytes([]uint64{v}))
	return array.MakeFromData(array.NewData(arrow.PrimitiveTypes.Uint64, 1, []*memory.Buffer{nil, buf}, nil, 0, 0))
}

// binaryColumn is a one-value binary (or utf8) column whose value buffer
// is value itself.
func binaryColumn(dt arrow.DataType, value []byte) arrow.Array {
	offsets := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, int32(len(value))}))
	return array.MakeFromData(array.NewData(dt, 1, []*memory.Buffer{nil, offsets, memory.NewBufferBytes(value)}, nil, 0, 0))
}
