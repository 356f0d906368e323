package cache

import (
	"context"

	"github.com/flmctl/flmctl/internal/lazy"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// The package-level functions mirror flamepy's put_object, get_object,
// update_object, patch_object, delete_objects, upload_object and
// download_object on one process-wide Client.

var defaultClient lazy.Value[*Client]

// Default returns the process-wide client used by the package-level
// functions: the cache of the current flame.yaml context, with
// FLAME_CACHE_ENDPOINT and FLAME_CA_FILE applied (inside an instance,
// FLAME_CACHE_ENDPOINT names the cluster's cache). Later calls return the
// same client; a failed attempt is not remembered.
func Default() (*Client, error) {
	return defaultClient.Get(func() (*Client, error) {
		r, err := contexts.Resolve(contexts.Options{})
		if err != nil {
			return nil, client.NewError(client.CodeInvalidConfig, "resolve the Flame context: "+err.Error(), err)
		}
		return NewResolved(r)
	})
}

// SetDefault replaces the client returned by Default (nil makes the next
// Default call build one again). It does not close the previous one.
func SetDefault(c *Client) { defaultClient.Set(c) }

// withDefault calls call on the default client.
func withDefault[T any](call func(*Client) (T, error)) (T, error) {
	c, err := Default()
	if err != nil {
		var zero T
		return zero, err
	}
	return call(c)
}

// Put stores data under a prefix or at a key with the default client; see
// Client.Put.
func Put(ctx context.Context, keyOrPrefix string, data []byte, opts ...PutOption) (ObjectRef, error) {
	return withDefault(func(c *Client) (ObjectRef, error) { return c.Put(ctx, keyOrPrefix, data, opts...) })
}

// Get returns the base object ref points at; see Client.Get.
func Get(ctx context.Context, ref ObjectRef) ([]byte, error) {
	return withDefault(func(c *Client) ([]byte, error) { return c.Get(ctx, ref) })
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
	return withDefault(func(c *Client) (ObjectRef, error) { return c.Update(ctx, ref, data, opts...) })
}

// Patch appends a patch to the object ref points at; see Client.Patch.
func Patch(ctx context.Context, ref ObjectRef, delta []byte, opts ...PutOption) (ObjectRef, error) {
	return withDefault(func(c *Client) (ObjectRef, error) { return c.Patch(ctx, ref, delta, opts...) })
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
	return withDefault(func(c *Client) (ObjectRef, error) { return c.Upload(ctx, keyOrPrefix, path, opts...) })
}

// Download writes an object into a file; see Client.Download.
func Download(ctx context.Context, ref ObjectRef, dest string, opts ...TransferOption) (int64, error) {
	return withDefault(func(c *Client) (int64, error) { return c.Download(ctx, ref, dest, opts...) })
}
