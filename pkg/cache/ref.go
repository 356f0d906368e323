package cache

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ObjectRef points at one version of a cached object on one cache server.
// It is what Put returns and what flows through the session manager as
// session common data and as the output of Runner tasks, encoded as BSON.
//
// Version 0 means "unknown": Get then downloads the whole object. Stored
// objects always have a version of 1 or more.
type ObjectRef struct {
	// Endpoint is the cache server that holds the object, e.g.
	// "grpc://127.0.0.1:9090". Get reads from it, not from the configured
	// endpoint.
	Endpoint string
	Key      string
	Version  int64
}

// Encode returns the BSON document {endpoint, key, version} with exactly
// these three keys in this order and version as int64 — the bytes upstream's
// cache server and flamepy produce and read.
func (r ObjectRef) Encode() []byte {
	b, err := bson.Marshal(bson.D{
		{Key: "endpoint", Value: r.Endpoint},
		{Key: "key", Value: r.Key},
		{Key: "version", Value: r.Version},
	})
	if err != nil {
		// Strings and an int64 always encode.
		panic("cache: encoding an ObjectRef: " + err.Error())
	}
	return b
}

// DecodeRef reads an ObjectRef from its BSON form. The version may be an
// int32 (what pymongo writes for small Python ints) or an int64.
func DecodeRef(b []byte) (ObjectRef, error) {
	raw := bson.Raw(b)
	if err := raw.Validate(); err != nil {
		return ObjectRef{}, fmt.Errorf("not a BSON ObjectRef: %w", err)
	}
	var r ObjectRef
	var ok bool
	if r.Endpoint, ok = raw.Lookup("endpoint").StringValueOK(); !ok {
		return ObjectRef{}, errors.New(`not a BSON ObjectRef: "endpoint" is missing or not a string`)
	}
	if r.Key, ok = raw.Lookup("key").StringValueOK(); !ok {
		return ObjectRef{}, errors.New(`not a BSON ObjectRef: "key" is missing or not a string`)
	}
	v := raw.Lookup("version")
	if i, ok := v.Int32OK(); ok {
		r.Version = int64(i)
	} else if r.Version, ok = v.Int64OK(); !ok {
		return ObjectRef{}, errors.New(`not a BSON ObjectRef: "version" is missing or not an integer`)
	}
	if r.Version < 0 {
		return ObjectRef{}, fmt.Errorf("not a BSON ObjectRef: negative version %d", r.Version)
	}
	return r, nil
}

// String returns "<key>@v<version> on <endpoint>".
func (r ObjectRef) String() string {
	return fmt.Sprintf("%s@v%d on %s", r.Key, r.Version, r.Endpoint)
}
