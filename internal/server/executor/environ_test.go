package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/internal/instancewire"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"HOME": "/home/u", "A_1": "one", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$HOME/x", "/home/u/x"},
		{"${HOME}/x", "/home/u/x"},
		{"${A_1}${A_1}", "oneone"},
		{"$A_1.txt", "one.txt"},
		{"$UNKNOWN/x", "$UNKNOWN/x"},
		{"${UNKNOWN}/x", "${UNKNOWN}/x"},
		{"a$EMPTY-b", "a-b"},
		{"cost $5", "cost $5"},
		{"$", "$"},
		{"$$HOME", "$/home/u"},
		{"${", "${"},
		{"${}", "${}"},
		{"${HOME", "${HOME"},
		{"${bad-name}", "${bad-name}"},
		{"${1X}", "${1X}"},
		{"trailing $", "trailing $"},
		{"ünï $HOME ç", "ünï /home/u ç"},
	} {
		if got := expand(c.in, lookup); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMerged(t *testing.T) {
	base := envFromList([]string{"A=1", "B=2", "A=3", "bad", "=x", "C=c=d"})
	over := newEnvSet()
	over.set("B", "b")
	over.set("D", "d")
	over.setIfAbsent("D", "ignored")
	got := merged(base, over)
	want := []string{"A=3", "C=c=d", "B=b", "D=d"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
}

func TestReadTail(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	if got, want := readTail(write("many", strings.Join(lines, "\n")+"\n\n")), strings.Join(lines[10:], "\n"); got != want {
		t.Errorf("tail of 30 lines = %q, want the last 20 %q", got, want)
	}
	if got := readTail(write("few", "a\nb\n")); got != "a\nb" {
		t.Errorf("tail of 2 lines = %q", got)
	}
	if got := readTail(write("empty", "")); got != "" {
		t.Errorf("tail of empty file = %q", got)
	}
	if got := readTail(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("tail of a missing file = %q", got)
	}
	// One huge line: at most 4 KiB, and the cut partial line is dropped.
	big := strings.Repeat("x", 10000) + "\nlast\n"
	if got := readTail(write("big", big)); got != "last" {
		t.Errorf("tail of a big file = %d bytes %.20q…", len(got), got)
	}
	huge := strings.Repeat("y", 10000)
	if got := readTail(write("huge", huge)); len(got) > stderrTailBytes {
		t.Errorf("tail of one huge line = %d bytes, want ≤ %d", len(got), stderrTailBytes)
	}
	if got := readTail(write("binary", "ok\xff\xfe\n")); got != "ok\uFFFD" {
		t.Errorf("invalid UTF-8 tail = %q", got)
	}
}

func TestInstall(t *testing.T) {
	home := t.TempDir()
	for _, v := range []string{"3.9", "3.11", "3.10"} {
		if err := os.MkdirAll(filepath.Join(home, "lib", "python"+v, "site-packages"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// python3.13 without site-packages does not count.
	if err := os.MkdirAll(filepath.Join(home, "lib", "python3.13"), 0o755); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(home, "lib", "python3.11", "site-packages")
	for _, f := range []string{"a/_a.so", "b/c/libc.so.1", "d/e/f/g/too_deep.so", "h/not_a_lib.py"} {
		p := filepath.Join(site, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Options{Backend: newFakeBackend(), NodeName: "n", FlameHome: home, SocketDir: shortTempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	app := func(installer, url string, env ...string) (*flamev1.Application, *envSet) {
		a := &flamev1.Application{Metadata: &flamev1.Metadata{Name: "app"}, Spec: &flamev1.ApplicationSpec{}}
		if installer != "" {
			a.Spec.Installer = proto.String(installer)
		}
		if url != "" {
			a.Spec.Url = proto.String(url)
		}
		for i := 0; i+1 < len(env); i += 2 {
			a.Spec.Environments = append(a.Spec.Environments, &flamev1.Environment{Name: env[i], Value: env[i+1]})
		}
		return a, m.appEnvironment(a)
	}

	if v, err := m.install(app("", "")); v != nil || err != nil {
		t.Errorf("no installer: %v, %v", v, err)
	}
	got, err := m.install(app("PYTHON", ""))
	if err != nil {
		t.Fatal(err)
	}
	want := &installVars{
		prepend:  [][2]string{{"PYTHONPATH", site}, {"LD_LIBRARY_PATH", filepath.Join(site, "a") + ":" + filepath.Join(site, "b", "c")}},
		ifAbsent: [][2]string{{"FLAME_PYTHON_VERSION", "3.11"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(installVars{})); diff != "" {
		t.Errorf("python installer, highest version (-want +got):\n%s", diff)
	}
	got, _ = m.install(app("binary", "", "FLAME_PYTHON_VERSION", "python3.9"))
	if got == nil || got.prepend[0][1] != filepath.Join(home, "lib", "python3.9", "site-packages") {
		t.Errorf("FLAME_PYTHON_VERSION=python3.9: %v", got)
	}
	if got, err := m.install(app("python", "", "FLAME_PYTHON_VERSION", "3.7")); got != nil || err != nil {
		t.Errorf("version without site-packages: %v, %v; want nothing", got, err)
	}
	if _, err := m.install(app("pip", "")); err == nil || err.Error() != "Unknown installer type: pip. Supported types: binary, python" {
		t.Errorf("unknown installer: %v", err)
	}
	if _, err := m.install(app("binary", "https://example.com/app.tar.gz")); err == nil || !strings.Contains(err.Error(), "does not download") {
		t.Errorf("url: %v", err)
	}

	// No FLAME_HOME/lib at all: 3.12 and nothing to add.
	m2, err := New(Options{Backend: newFakeBackend(), NodeName: "n", FlameHome: t.TempDir(), SocketDir: shortTempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Stop()
	if v := m2.pythonVersion(newEnvSet()); v != "3.12" {
		t.Errorf("default python version = %q", v)
	}
}

func TestInstanceEnv_Precedence(t *testing.T) {
	m, err := New(Options{
		Backend:   newFakeBackend(),
		NodeName:  "n",
		SocketDir: shortTempDir(t),
		Env:       []string{"HOME=/mgr", "PYTHONPATH=/mgr/py", "TMPDIR=/mgr/tmp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	appEnv := newEnvSet()
	appEnv.set("HOME", "/app-home")
	appEnv.set("TMPDIR", "/app-tmp")
	appEnv.set("FLAME_LOG", "trace") // overridden: spec §8.2 row order
	appEnv.set("FLAME_INSTANCE_ENDPOINT", "/wrong")
	vars := &installVars{prepend: [][2]string{{"PYTHONPATH", "/site"}, {"PATH", "/inst/bin"}}, ifAbsent: [][2]string{{"HOME", "/inst"}}}
	appEnv.set(instancewire.EndpointEnv, "/wrong-too")
	env := m.instanceEnv(appEnv, vars, "/s/e.sock", "/s/e.fsock", "/t")
	got := map[string]string{}
	for _, k := range env.keys {
		got[k] = env.vals[k]
	}
	want := map[string]string{
		"HOME":                    "/app-home",
		"TMPDIR":                  "/app-tmp",
		"TEMP":                    "/t",
		"TMP":                     "/t",
		"FLAME_LOG":               "info",
		"RUST_LOG":                "info",
		"FLAME_INSTANCE_ENDPOINT": "/s/e.sock",
		instancewire.EndpointEnv:  "/s/e.fsock",
		"PYTHONPATH":              "/site:/mgr/py",
		"PATH":                    "/inst/bin",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instance env (-want +got):\n%s", diff)
	}
	// Not offered (GRPCOnly): the application's value does not get through.
	if v, _ := m.instanceEnv(appEnv, vars, "/s/e.sock", "", "/t").get(instancewire.EndpointEnv); v != "" {
		t.Errorf("%s = %q without the offer, want empty", instancewire.EndpointEnv, v)
	}
}
