package objectcache

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// On-disk format of one stored blob (a base object or a patch):
//
//	header   "FLMCACHE" | format u8 (=1) | kind u8 | 6 zero bytes | version u64
//	chunk*   len u32 | crc32c(data) u32 | data        (len < 0xFFFFFFFF)
//	trailer  0xFFFFFFFF | chunks u32 | size u64 | version u64 | crc32c(the 24 bytes before) u32
//
// All integers are little-endian. Every chunk carries its own checksum, so a
// damaged file is detected while it is read, before any of the damaged
// chunk is served. The trailer is written last and a blob is renamed into
// place only when complete, so a torn write shows as a missing trailer. The
// version is in the header too, so that a file whose end is damaged still
// says which version it was (a later put must not reuse that number).
// Files are not fsynced: the cache is not the system of record, and the
// checksums catch what a crash leaves behind.
const (
	fileMagic   = "FLMCACHE"
	fileFormat  = 1
	headerSize  = 24
	trailerSize = 4 + 4 + 8 + 8 + 4
	endMarker   = 0xFFFFFFFF
)

// Blob kinds in the header.
const (
	kindOpaque = 1 // chunks are data cells
	kindTable  = 2 // one chunk: an Arrow IPC stream (schema + batches)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged marks a stored file that failed its checks.
var ErrDamaged = errors.New("damaged on disk")

// errStale is a read of a blob whose file now holds another version (it
// was replaced or deleted after the reader took its snapshot).
var errStale = status.Error(codes.Aborted, "the object changed while it was being read; read it again")

// Files being written live in the staging directory, out of the key tree,
// so that deleting a prefix never meets an upload in progress, and are
// renamed into place when complete. Keys cannot contain ':', so neither
// name can be an application's or an object's.
const (
	stagingDir = ":staging"
	tmpPrefix  = ":tmp-"
)

// blobWriter writes one blob file to a temporary name; commit renames it.
type blobWriter struct {
	f      *os.File
	w      *bufio.Writer // small blobs: through the page cache
	d      *directBuf    // big blobs: around it
	tmp    string
	chunks uint32
	size   uint64
	err    error
}

// directMin is the size from which a blob is written with O_DIRECT. Copying
// a big blob into the page cache costs as much CPU as receiving it over the
// network, on a machine with two cores, that halves a sustained put's
// throughput; the device takes O_DIRECT writes by DMA. Small blobs keep
// the page cache, which is faster for them and for reading them back.
const directMin = 4 << 20

// directBlock is the unit of O_DIRECT writes: a multiple of any device's
// logical block size, and of the page size the buffer is aligned to.
const directBlock = 1 << 20

// createBlob starts a blob file in dir. sizeHint is the blob's size when
// known, -1 for an upload still streaming in (which is big: it spilled).
func createBlob(dir string, kind byte, sizeHint int64) (*blobWriter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	bw := &blobWriter{}
	if sizeHint < 0 || sizeHint >= directMin {
		bw.f, bw.d = openDirect(dir)
	}
	if bw.f == nil {
		f, err := os.CreateTemp(dir, tmpPrefix+"*")
		if err != nil {
			return nil, err
		}
		bw.f, bw.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	bw.tmp = bw.f.Name()
	var h [headerSize]byte
	copy(h[:], fileMagic)
	h[8], h[9] = fileFormat, kind
	bw.write(h[:])
	return bw, bw.err
}

func (bw *blobWriter) write(p []byte) {
	if bw.err != nil {
		return
	}
	if bw.d != nil {
		bw.err = bw.d.write(p)
		return
	}
	_, bw.err = bw.w.Write(p)
}

// flush writes what is buffered; the file is then complete up to here.
func (bw *blobWriter) flush() error {
	if bw.err != nil {
		return bw.err
	}
	if bw.d != nil {
		bw.err = bw.d.finish(bw.tmp)
		bw.d = nil
		return bw.err
	}
	bw.err = bw.w.Flush()
	return bw.err
}

// directBuf gathers writes into whole aligned blocks for an O_DIRECT file.
type directBuf struct {
	f   *os.File
	buf []byte // page-aligned (mmap), directBlock long
	n   int
	off int64
}

// openDirect creates a temporary file in dir for O_DIRECT writes, or
// returns nils where the file system refuses O_DIRECT (tmpfs, for one).
func openDirect(dir string) (*os.File, *directBuf) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := filepath.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_DIRECT, 0o600)
	if err != nil {
		return nil, nil
	}
	buf, err := syscall.Mmap(-1, 0, directBlock, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		_ = f.Close()
		_ = os.Remove(name)
		return nil, nil
	}
	return f, &directBuf{f: f, buf: buf}
}

func (d *directBuf) write(p []byte) error {
	for len(p) > 0 {
		c := copy(d.buf[d.n:], p)
		d.n += c
		p = p[c:]
		if d.n == len(d.buf) {
			if _, err := d.f.Write(d.buf); err != nil {
				return err
			}
			d.off += int64(d.n)
			d.n = 0
		}
	}
	return nil
}

// finish writes the last partial block through the page cache (O_DIRECT
// takes whole blocks only), on a second descriptor of the same file, which
// then replaces the first.
func (d *directBuf) finish(path string) error {
	defer d.release()
	g, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := g.WriteAt(d.buf[:d.n], d.off); err != nil {
		_ = g.Close()
		return err
	}
	if _, err := g.Seek(d.off+int64(d.n), io.SeekStart); err != nil {
		_ = g.Close()
		return err
	}
	_ = d.f.Close()
	d.f = g
	return nil
}

func (d *directBuf) release() {
	if d.buf != nil {
		_ = syscall.Munmap(d.buf)
		d.buf = nil
	}
}

func (bw *blobWriter) chunk(data []byte) error {
	if uint64(len(data)) >= endMarker {
		return fmt.Errorf("a chunk of %d bytes is too large", len(data))
	}
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(data, castagnoli))
	bw.write(h[:])
	if len(data) >= 64<<10 && bw.err == nil && bw.d == nil {
		// Big chunks go straight to the file: copying them through the
		// buffer halves the write rate.
		if bw.err = bw.w.Flush(); bw.err == nil {
			_, bw.err = bw.f.Write(data)
		}
	} else {
		bw.write(data)
	}
	bw.chunks++
	bw.size += uint64(len(data))
	return bw.err
}

// commit writes the trailer with the blob's version and renames the file to
// path, replacing what was there.
func (bw *blobWriter) commit(path string, version uint64) error {
	var t [trailerSize]byte
	binary.LittleEndian.PutUint32(t[0:], endMarker)
	binary.LittleEndian.PutUint32(t[4:], bw.chunks)
	binary.LittleEndian.PutUint64(t[8:], bw.size)
	binary.LittleEndian.PutUint64(t[16:], version)
	binary.LittleEndian.PutUint32(t[24:], crc32.Checksum(t[:24], castagnoli))
	bw.write(t[:])
	if bw.d != nil {
		d := bw.d
		if bw.flush() == nil {
			bw.f = d.f
		}
	} else {
		_ = bw.flush()
	}
	if bw.err == nil {
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], version)
		_, bw.err = bw.f.WriteAt(v[:], 16)
	}
	if err := bw.f.Close(); bw.err == nil {
		bw.err = err
	}
	if bw.err == nil {
		bw.err = os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if bw.err == nil {
		bw.err = os.Rename(bw.tmp, path)
	}
	if bw.err != nil {
		_ = os.Remove(bw.tmp)
	}
	return bw.err
}

// abort removes the temporary file.
func (bw *blobWriter) abort() {
	if bw.d != nil {
		bw.d.release()
	}
	_ = bw.f.Close()
	_ = os.Remove(bw.tmp)
}

// writeBlob writes chunks as one committed blob file at path, by way of a
// temporary file in staging.
func writeBlob(staging, path string, kind byte, version uint64, chunks [][]byte) error {
	var size int64
	for _, c := range chunks {
		size += int64(len(c))
	}
	bw, err := createBlob(staging, kind, size)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := bw.chunk(c); err != nil {
			bw.abort()
			return err
		}
	}
	return bw.commit(path, version)
}

// blobInfo is what the header and trailer of a blob file say.
type blobInfo struct {
	kind    byte
	chunks  uint32
	size    uint64
	version uint64
}

// statBlob checks a blob file's header and trailer without reading its
// chunks (what a restart does for every file).
func statBlob(path string) (blobInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return blobInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return blobInfo{}, err
	}
	var info blobInfo
	damaged := func(why string) (blobInfo, error) {
		return info, fmt.Errorf("%s: %w (%s)", path, ErrDamaged, why)
	}
	if fi.Size() < headerSize {
		return damaged("too short")
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return blobInfo{}, err
	}
	if string(h[:8]) != fileMagic || h[8] != fileFormat || (h[9] != kindOpaque && h[9] != kindTable) {
		return damaged("bad header")
	}
	info.kind, info.version = h[9], binary.LittleEndian.Uint64(h[16:])
	if fi.Size() < headerSize+trailerSize {
		return damaged("too short")
	}
	var t [trailerSize]byte
	if _, err := f.ReadAt(t[:], fi.Size()-trailerSize); err != nil {
		return blobInfo{}, err
	}
	if binary.LittleEndian.Uint32(t[0:]) != endMarker ||
		binary.LittleEndian.Uint32(t[24:]) != crc32.Checksum(t[:24], castagnoli) {
		return damaged("incomplete or bad trailer")
	}
	if binary.LittleEndian.Uint64(t[16:]) != info.version {
		return damaged("header and trailer disagree on the version")
	}
	info.chunks = binary.LittleEndian.Uint32(t[4:])
	info.size = binary.LittleEndian.Uint64(t[8:])
	if uint64(fi.Size()) != headerSize+trailerSize+8*uint64(info.chunks)+info.size {
		return damaged("length does not match its trailer")
	}
	return info, nil
}

// readBlob calls fn with each chunk of the blob file at path, in order,
// after checking the chunk's checksum. A chunk passed to fn is only valid
// during the call unless own is true, in which case fn may keep it. A file
// that holds another version than want gives errStale before any chunk.
func readBlob(path string, want uint64, own bool, fn func(chunk []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("%s: %w (header: %v)", path, ErrDamaged, err)
	}
	if string(h[:8]) != fileMagic {
		return fmt.Errorf("%s: %w (bad header)", path, ErrDamaged)
	}
	if binary.LittleEndian.Uint64(h[16:]) != want {
		return errStale
	}
	var buf []byte
	for n := 0; ; n++ {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:4]); err != nil {
			return fmt.Errorf("%s: %w (chunk %d: %v)", path, ErrDamaged, n, err)
		}
		size := binary.LittleEndian.Uint32(ch[:4])
		if size == endMarker {
			return nil
		}
		if _, err := io.ReadFull(r, ch[4:]); err != nil {
			return fmt.Errorf("%s: %w (chunk %d: %v)", path, ErrDamaged, n, err)
		}
		if own || cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("%s: %w (chunk %d: %v)", path, ErrDamaged, n, err)
		}
		if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(ch[4:]) {
			return fmt.Errorf("%s: %w (checksum mismatch in chunk %d)", path, ErrDamaged, n)
		}
		if err := fn(buf); err != nil {
			return err
		}
	}
}
