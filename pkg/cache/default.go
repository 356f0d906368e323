package cache

import (
	"context"
	"sync"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// The package-level functions mirror flamepy's put_object, get_object,
// update_object, patch_object, delete_objects, upload_object and
// download_object on one process-wide Client.

var defaultClient struct {
	mu sync.Mutex
	c  *Client // guarded by mu
}

// Default returns the process-wide client used by the package-level
// functions: the cache of the current flame.yaml context, with
// FLAME_CACHE_ENDPOINT and FLAME_CA_FILE applied (inside an instance,
// FLAME_CACHE_ENDPOINT names the cluster's cache). Later calls return the
// same client; a failed attempt is not remembered.
func Default() (*Client, error) {
	defaultClient.mu.Lock()
	defer defaultClient.mu.Unlock()
	if defaultClient.c != nil {
		return defaultClient.c, nil
	}
	r, err := contexts.Resolve(contexts.Options{})
	if err != nil {
		return nil, client.NewError(client.CodeInvalidConfig, "resolve the Flame context: "+err.Error(), err)
	}
	c, err := NewResolved(r)
	if err != nil {
		return nil, err
	}
	defaultClient.c = c
	return c, nil
}

// SetDefault replaces the client returned by Default (nil makes the next
// Default call build one again). It does not close the previous one.
func SetDefault(c *Client) {
	defaultClient.mu.Lock()
	defaultClient.c = c
	defaultClient.mu.Unlock()
}

// Put stores data under a prefix or at a key with the default client; see
// Client.Put.
func Put(ctx context.Context, keyOrPrefix string, data []byte, opts ...PutOption) (ObjectRef, error) {
	c, err := Default()
	if err != nil {
		return ObjectRef{}, err
	}
	return c.Put(ctx, keyOrPrefix, data, opts...)
}

// Get returns the base object ref points at; see Client.Get.
func Get(ctx context.Context, ref ObjectRef) ([]byte, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, ref)
}

// GetParts returns the base object and its patches; see Client.GetParts.
func GetParts(ctx context.Context, ref ObjectRef) (base []byte, patches [][]byte, err error) {
	c, err := Default()
	if err != nil {
		return nil, nil, err
	}
	return c.GetParts(ctx, ref)
}

// Update replaces the object ref points at; see Client.Update.
func Update(ctx context.Context, ref ObjectRef, data []byte, opts ...PutOption) (ObjectRef, error) {
	c, err := Default()
	if err != nil {
		return ObjectRef{}, err
	}
	return c.Update(ctx, ref, data, opts...)
}

// Patch appends a patch to the object ref points at; see Client.Patch.
func Patch(ctx context.Context, ref ObjectRef, delta []byte, opts ...PutOption) (ObjectRef, error) {
	c, err := Default()
	if err != nil {
		return ObjectRef{}, err
	}
	return c.Patch(ctx, ref, delta, opts...)
}

// Delete removes a key, a prefix or "<app>/*"; see Client.Delete.
func Delete(ctx context.Context, pattern string) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.Delete(ctx, pattern)
}

// Upload stores a file; see Client.Upload.
func Upload(ctx context.Context, keyOrPrefix, path string, opts ...TransferOption) (ObjectRef, error) {
	c, err := Default()
	if err != nil {
		return ObjectRef{}, err
	}
	return c.Upload(ctx, keyOrPrefix, path, opts...)
}

// Download writes an object into a file; see Client.Download.
func Download(ctx context.Context, ref ObjectRef, dest string, opts ...TransferOption) (int64, error) {
	c, err := Default()
	if err != nil {
		return 0, err
	}
	return c.Download(ctx, ref, dest, opts...)
}
