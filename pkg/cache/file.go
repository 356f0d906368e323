package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flmctl/flmctl/pkg/client"
)

// Progress is told how many bytes have moved so far and how many there are
// in all (-1 when unknown). It is called from the goroutine doing the
// transfer, after every chunk.
type Progress func(done, total int64)

// TransferOption changes an Upload or Download.
type TransferOption func(*transferOptions)

type transferOptions struct {
	progress  Progress
	chunkSize int
}

// WithProgress reports progress to fn.
func WithProgress(fn Progress) TransferOption {
	return func(o *transferOptions) { o.progress = fn }
}

// WithChunkSize sets the bytes per uploaded row (default ChunkSize, 1 MiB).
func WithChunkSize(n int) TransferOption {
	return func(o *transferOptions) {
		if n > 0 {
			o.chunkSize = n
		}
	}
}

func transfer(opts []TransferOption) transferOptions {
	o := transferOptions{chunkSize: ChunkSize}
	for _, f := range opts {
		f(&o)
	}
	if o.progress == nil {
		o.progress = func(int64, int64) {}
	}
	return o
}

// Upload stores the file at path, as it is (no Python wrapping, like
// flamepy's upload_object), under a prefix or at a full key. It streams the
// file in chunks, so memory stays small whatever the file's size.
func (c *Client) Upload(ctx context.Context, keyOrPrefix, path string, opts ...TransferOption) (ObjectRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return ObjectRef{}, client.NewError(client.CodeInvalidArgument, fmt.Sprintf("upload %s: %v", path, err), err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return c.UploadFrom(ctx, keyOrPrefix, f, size, opts...)
}

// UploadFrom is Upload reading from r; size is its length for progress
// reports, -1 when unknown.
func (c *Client) UploadFrom(ctx context.Context, keyOrPrefix string, r io.Reader, size int64, opts ...TransferOption) (ObjectRef, error) {
	k, err := ParseKeyOrPrefix(keyOrPrefix)
	if err != nil {
		return ObjectRef{}, keyErr(err)
	}
	o := transfer(opts)
	buf := make([]byte, o.chunkSize)
	var done int64
	first := true
	readErr := error(nil)
	ref, err := c.upload(ctx, "upload to "+keyOrPrefix, c.endpoint, pathDescriptor(k), true, func() ([]byte, error) {
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = nil
		}
		if err == io.EOF && first {
			// An empty file is still an object: one empty row.
			first = false
			return buf[:0], nil
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			return nil, err
		}
		first = false
		done += int64(n)
		o.progress(done, size)
		return buf[:n], nil
	})
	if readErr != nil {
		return ObjectRef{}, client.NewError(client.CodeInvalidArgument, fmt.Sprintf("upload to %s: read the input: %v", keyOrPrefix, readErr), readErr)
	}
	return ref, err
}

// Download writes the object ref points at into the file dest. The data
// goes to a temporary file beside dest that replaces it only once complete,
// so a failed download leaves no partial file. It returns the bytes written.
func (c *Client) Download(ctx context.Context, ref ObjectRef, dest string, opts ...TransferOption) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return 0, client.NewError(client.CodeInvalidArgument, fmt.Sprintf("download to %s: %v", dest, err), err)
	}
	n, err := c.DownloadTo(ctx, ref, tmp, opts...)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = client.NewError(client.CodeInternal, fmt.Sprintf("download to %s: %v", dest, cerr), cerr)
	}
	if err == nil {
		// The file gets the mode of the one it replaces, else the usual
		// 0644 (CreateTemp made it 0600).
		mode := os.FileMode(0o644)
		if fi, serr := os.Stat(dest); serr == nil {
			mode = fi.Mode().Perm()
		}
		_ = os.Chmod(tmp.Name(), mode)
		if rerr := os.Rename(tmp.Name(), dest); rerr != nil {
			err = client.NewError(client.CodeInternal, fmt.Sprintf("download to %s: %v", dest, rerr), rerr)
		}
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return 0, err
	}
	return n, nil
}

// DownloadTo writes the object ref points at to w, as stored (the bytes
// an Upload sent), streaming it chunk by chunk. An object with patches
// cannot be downloaded: read it with GetParts.
func (c *Client) DownloadTo(ctx context.Context, ref ObjectRef, w io.Writer, opts ...TransferOption) (int64, error) {
	if _, err := ParseKey(ref.Key); err != nil {
		return 0, keyErr(err)
	}
	o := transfer(opts)
	op := "download " + ref.Key
	var done int64
	rows := 0
	err := c.stream(ctx, op, ObjectRef{Endpoint: ref.Endpoint, Key: ref.Key}, 0, func(_ uint64, kind string, data []byte) error {
		rows++
		if kind != KindBase {
			return client.NewError(client.CodeInvalidArgument, fmt.Sprintf("%s: the object has patches; read it with GetParts (flmctl cache get --patches)", op), nil)
		}
		n, err := w.Write(data)
		done += int64(n)
		if err != nil {
			return client.NewError(client.CodeInternal, fmt.Sprintf("%s: write: %v", op, err), err)
		}
		o.progress(done, -1)
		return nil
	})
	if err != nil {
		return done, err
	}
	if rows == 0 {
		return 0, client.NewError(client.CodeNotFound, fmt.Sprintf("%s: object not found", op), errors.New("no rows"))
	}
	return done, nil
}
