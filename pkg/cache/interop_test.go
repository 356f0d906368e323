package cache_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/cache"
	"github.com/flmctl/flmctl/pkg/local"
)

// debianPython is Debian's Python, which has python3-bson (pymongo's bson);
// the python3 on PATH may be another one.
const debianPython = "/usr/bin/python3"

func python(t *testing.T, module, script string, args ...string) string {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Skipf("%s is not installed; Python interoperability is not checked", debianPython)
	}
	if out, err := exec.Command(debianPython, "-c", "import "+module).CombinedOutput(); err != nil {
		t.Skipf("%s cannot import %s (install Debian's python3-bson); not checked: %s", debianPython, module, out)
	}
	out, err := exec.Command(debianPython, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// The BSON of an ObjectRef is byte for byte what pymongo's bson writes for
// the same document with an int64 version, and pymongo reads ours back with
// the keys in order.
func TestObjectRefBSONMatchesPymongo(t *testing.T) {
	ref := cache.ObjectRef{Endpoint: "grpc://10.0.0.5:9090", Key: "app/ssn/0b6f9a1e-obj", Version: 7}
	script := `
import sys, bson
from bson.int64 import Int64
ours = bytes.fromhex(sys.argv[1])
theirs = bson.encode({"endpoint": sys.argv[2], "key": sys.argv[3], "version": Int64(int(sys.argv[4]))})
d = bson.decode(ours)
print(theirs.hex())
print(list(d.keys()), type(d["version"]).__name__, d["version"])
print(bson.encode({"endpoint": "e", "key": "a/b/c", "version": 3}).hex())
`
	out := python(t, "bson", script, hex.EncodeToString(ref.Encode()), ref.Endpoint, ref.Key, fmt.Sprint(ref.Version))
	lines := strings.Split(out, "\n")
	if len(lines) != 3 {
		t.Fatalf("python printed %q", out)
	}
	if lines[0] != hex.EncodeToString(ref.Encode()) {
		t.Errorf("ours   %x\npymongo %s", ref.Encode(), lines[0])
	}
	if lines[1] != "['endpoint', 'key', 'version'] Int64 7" {
		t.Errorf("pymongo decoded ours as %s", lines[1])
	}
	// pymongo writes small Python ints as int32: we read those too.
	b, _ := hex.DecodeString(lines[2])
	got, err := cache.DecodeRef(b)
	if err != nil || got != (cache.ObjectRef{Endpoint: "e", Key: "a/b/c", Version: 3}) {
		t.Errorf("DecodeRef(pymongo int32) = %+v, %v", got, err)
	}
}

// Bytes put by Go are Python bytes to flamepy (FLM\x00 + pickle), and what
// flamepy stores for bytes, str, numbers, lists and dicts reads from Go.
func TestPythonPayloads(t *testing.T) {
	_, cc := startCluster(t, local.Options{})
	ctx := ctxT(t)
	data := append([]byte("binary\x00\xff"), bytes.Repeat([]byte("x"), 70000)...)
	ref, err := cc.Put(ctx, "app/ssn", data)
	if err != nil {
		t.Fatal(err)
	}
	var stored bytes.Buffer
	if _, err := cc.DownloadTo(ctx, ref, &stored); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goFile := filepath.Join(dir, "go.bin")
	if err := os.WriteFile(goFile, stored.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// What flamepy's get_object does with a payload: strip FLM\x00, unpickle.
	got := python(t, "pickle", `
import sys, pickle
p = open(sys.argv[1], "rb").read()
assert p[:4] == b"FLM\x00", p[:8]
v = pickle.loads(p[4:])
want = b"binary\x00\xff" + b"x" * 70000
print(type(v).__name__, v == want)
`, goFile)
	if got != "bytes True" {
		t.Fatalf("flamepy would read %s", got)
	}

	// What flamepy's put_object stores for Python values.
	values := map[string]string{
		"bytes": `b"\x00raw"`,
		"str":   `"héllo"`,
		"int":   `12345678901234567890`,
		"float": `2.5`,
		"list":  `[1, "two", [3.0]]`,
		"dict":  `{"a": 1, "b": [True, None]}`,
	}
	for name, expr := range values {
		python(t, "pickle", fmt.Sprintf(`
import sys, pickle
open(sys.argv[1], "wb").write(b"FLM\x00" + pickle.dumps(%s, protocol=5))
`, expr), filepath.Join(dir, name+".bin"))
		ref, err := cc.Upload(ctx, "app/py/"+name, filepath.Join(dir, name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := cc.GetValue(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s := fmt.Sprintf("%T %v", v, v); s != map[string]string{
			"bytes": "[]uint8 [0 114 97 119]",
			"str":   "string héllo",
			"int":   "*big.Int 12345678901234567890",
			"float": "float64 2.5",
			"list":  "[]interface {} [1 two [3]]",
			"dict":  "map[string]interface {} map[a:1 b:[true <nil>]]",
		}[name] {
			t.Errorf("%s: GetValue = %s", name, s)
		}
		b, err := cc.Get(ctx, ref)
		switch name {
		case "bytes", "str":
			if err != nil || (name == "bytes" && string(b) != "\x00raw") || (name == "str" && string(b) != "héllo") {
				t.Errorf("%s: Get = %q, %v", name, b, err)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), "read it with GetValue") {
				t.Errorf("%s: Get = %q, %v; want an error pointing to GetValue", name, b, err)
			}
		}
	}
}
