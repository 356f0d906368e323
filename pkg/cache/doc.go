// Package cache reads and writes Flame's object cache: versioned objects
// under "<app>/<session>/<object>" keys, served over Arrow Flight by the
// cluster (flmctl cluster start, pkg/local) or by upstream's cache server.
//
//	cc, err := cache.New(cache.Options{Endpoint: "grpc://127.0.0.1:9090"})
//	ref, err := cc.Put(ctx, "my-app/"+sessionID, data)  // a new object, version 1
//	data, err = cc.Get(ctx, ref)
//	ref, err = cc.Patch(ctx, ref, delta)                // version 2
//	base, patches, err := cc.GetParts(ctx, ref)
//	err = cc.Delete(ctx, "my-app/"+sessionID)
//
// The package-level functions (Put, Get, GetParts, Update, Patch, Delete,
// Upload, Download) are flamepy's module functions: they use Default, the
// cache of the current context or of FLAME_CACHE_ENDPOINT, which is how a
// service running in an instance finds the cluster's cache.
//
// An ObjectRef names one version of one object on one server; its BSON
// form (ObjectRef.Encode, DecodeRef) is what flows through Flame as session
// common data and task output. Get and GetParts read from the server the
// reference names. A client keeps the objects it fetched (1000 entries,
// 256 MiB by default) and asks only for patches newer than its copy;
// version 0 forces a full download.
//
// # Interoperability with flamepy
//
// flamepy stores a Python object as "FLM\x00" followed by its pickle. Put,
// Update and Patch store Go bytes the same way, as a pickle of a Python
// bytes object (SHORT_BINBYTES, BINBYTES or BINBYTES8: 14 bytes or fewer
// of overhead, one copy), so flamepy's get_object returns them as bytes.
// Get reads back both that form and flamepy's str, and returns data without
// the "FLM\x00" prefix as it is stored. GetValue decodes the pickles
// flamepy writes for None, bool, int, float, str, bytes, bytearray, list,
// tuple, dict, set and frozenset into Go values; a pickle of any other
// Python object is refused with an error naming it, and nothing in a
// pickle is ever executed. Raw stores bytes unwrapped, which other Flame
// clients (such as the Rust SDK) expect.
//
// Upload and Download move files as they are, in 1 MiB rows, with bounded
// memory, like flamepy's upload_object and download_object.
//
// flamepy's shortcut of writing objects straight into a directory shared
// with the server (FLAME_CACHE_STORAGE on the client) assumes upstream's
// on-disk layout; flmctl's cache server keeps its own checksummed format,
// so clients of it must not set FLAME_CACHE_STORAGE. This package always
// goes through the server.
//
// Errors are *client.FlameError values with the codes of pkg/client:
// CodeNotFound for a missing object, CodeInvalidArgument for a bad key
// (the message names the rule), CodeUnavailable when the server cannot be
// reached.
package cache
