package cache_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/local"
)

// The package-level functions use the cache named by the environment, as a
// Go service inside an instance finds it.
func TestPackageFunctionsUseTheEnvironment(t *testing.T) {
	cache.SetDefault(nil)
	t.Cleanup(func() { cache.SetDefault(nil) })
	t.Setenv("HOME", t.TempDir()) // no flame.yaml
	for _, env := range []string{"FLAME_CONFIG", "FLAME_CA_FILE", "FLAME_ENDPOINT"} {
		t.Setenv(env, "")
	}
	t.Setenv("FLAME_CACHE_ENDPOINT", "ftp://127.0.0.1:1")
	if _, err := cache.Put(t.Context(), "app/ssn", []byte("x")); !errors.Is(err, client.ErrInvalidConfig) {
		t.Fatalf("with a bad FLAME_CACHE_ENDPOINT: %v, want ErrInvalidConfig", err)
	}

	c, _ := startCluster(t, local.Options{})
	t.Setenv("FLAME_CACHE_ENDPOINT", c.Endpoints().Cache)
	ctx := ctxT(t)
	ref, err := cache.Put(ctx, "app/ssn", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := cache.Default()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = def.Close() })
	if def.Endpoint() != c.Endpoints().Cache || ref.Endpoint != c.Endpoints().Cache {
		t.Fatalf("default client on %s, ref on %s; want %s", def.Endpoint(), ref.Endpoint, c.Endpoints().Cache)
	}
	ref, err = cache.Update(ctx, ref, []byte("base"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err = cache.Patch(ctx, ref, []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cache.Get(ctx, ref); err != nil || string(got) != "base" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if base, patches, err := cache.GetParts(ctx, ref); err != nil || string(base) != "base" || len(patches) != 1 {
		t.Fatalf("GetParts = %q %q %v", base, patches, err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	if err := os.WriteFile(src, []byte("file"), 0o600); err != nil {
		t.Fatal(err)
	}
	up, err := cache.Upload(ctx, "app/ssn", src)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cache.Download(ctx, up, filepath.Join(dir, "g")); err != nil || n != 4 {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if err := cache.Delete(ctx, "app/ssn"); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Get(ctx, ref); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}
