package local_test

import (
	"testing"

	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/local"
)

// Instances find the cluster's object cache in FLAME_CACHE_ENDPOINT: a task
// gets an ObjectRef as input, reads the object and answers with a ref to a
// new one, as Runner tasks do.
func TestInstancesUseTheCache(t *testing.T) {
	c, conn := startCluster(t, local.Options{})
	ctx := t.Context()
	if c.Endpoints().Cache == "" {
		t.Fatal("the cluster has no cache endpoint")
	}
	cc, err := cache.New(cache.Options{Endpoint: c.Endpoints().Cache})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ssn := echoSession(t, conn)
	in, err := cc.Put(ctx, "echo/"+ssn.ID(), []byte("big input"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ssn.Invoke(ctx, append([]byte("cacheref:"), in.Encode()...))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := cache.DecodeRef(out)
	if err != nil {
		t.Fatalf("task output is not an ObjectRef: %v", err)
	}
	if ref.Endpoint != c.Endpoints().Cache || ref.Version != 1 {
		t.Fatalf("ref = %+v", ref)
	}
	got, err := cc.Get(ctx, ref)
	if err != nil || string(got) != "seen: big input" {
		t.Fatalf("result object = %q, %v", got, err)
	}
}
