package executor

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/flmctl/flmctl/internal/instancewire"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// expand replaces $NAME and ${NAME} in s with lookup(NAME). A variable that
// lookup does not know is left exactly as written, as is a "$" that starts
// neither form (spec §8.2).
func expand(s string, lookup func(string) (string, bool)) string {
	i := strings.IndexByte(s, '$')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:] // s starts with '$'
		name, width := varName(s)
		if width == 0 {
			b.WriteByte('$')
			s = s[1:]
		} else {
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[:width])
			}
			s = s[width:]
		}
		i = strings.IndexByte(s, '$')
	}
	b.WriteString(s)
	return b.String()
}

// varName parses the variable reference at the start of s (which begins
// with '$') and returns its name and the number of bytes it spans, or a
// width of 0 when s does not start a reference.
func varName(s string) (string, int) {
	if len(s) > 1 && s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 3 {
			return "", 0
		}
		name := s[2:end]
		for j := 0; j < len(name); j++ {
			if !isNameByte(name[j], j == 0) {
				return "", 0
			}
		}
		return name, end + 1
	}
	j := 1
	for j < len(s) && isNameByte(s[j], j == 1) {
		j++
	}
	if j == 1 {
		return "", 0
	}
	return s[1:j], j
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case '0' <= c && c <= '9':
		return !first
	}
	return false
}

// envSet is an ordered set of environment variables.
type envSet struct {
	keys []string
	vals map[string]string
}

func newEnvSet() *envSet { return &envSet{vals: make(map[string]string)} }

func (s *envSet) get(k string) (string, bool) {
	v, ok := s.vals[k]
	return v, ok
}

func (s *envSet) set(k, v string) {
	if _, ok := s.vals[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.vals[k] = v
}

func (s *envSet) setIfAbsent(k, v string) {
	if _, ok := s.vals[k]; !ok {
		s.set(k, v)
	}
}

// envFromList parses KEY=VALUE entries; later entries win, as in a process
// environment.
func envFromList(list []string) *envSet {
	s := newEnvSet()
	for _, kv := range list {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			s.set(k, v)
		}
	}
	return s
}

// merged returns base with overlay applied, as a process environment: the
// base variables the overlay does not replace keep their order, the overlay
// follows in its own order.
func merged(base, overlay *envSet) []string {
	out := make([]string, 0, len(base.keys)+len(overlay.keys))
	for _, k := range base.keys {
		if _, ok := overlay.vals[k]; !ok {
			out = append(out, k+"="+base.vals[k])
		}
	}
	for _, k := range overlay.keys {
		out = append(out, k+"="+overlay.vals[k])
	}
	return out
}

// installVars are the variables an installer adds (spec §8.5).
type installVars struct {
	// prepend holds path lists put in front of the variable's value.
	prepend [][2]string
	// ifAbsent holds variables set only when not already set.
	ifAbsent [][2]string
}

// Installer names (spec §8.5), compared case-insensitively.
const (
	installerBinary = "binary"
	installerPython = "python"
)

// defaultPythonVersion is used when neither the application nor FLAME_HOME
// names one (spec §8.5).
const defaultPythonVersion = "3.12"

// install runs the application's installer and returns the variables it
// adds. Packages named by url are not supported yet: flmctl's executor
// manager does not download, extract or pip-install anything, so such
// applications fail to bind with code 10 and a message that says so.
func (m *Manager) install(app *flamev1.Application, appEnv *envSet) (*installVars, error) {
	spec := app.GetSpec()
	inst := spec.GetInstaller()
	if inst == "" {
		return nil, nil
	}
	kind := strings.ToLower(inst)
	if kind != installerBinary && kind != installerPython {
		//lint:ignore ST1005 upstream's wording, kept for tools that match on it
		return nil, fmt.Errorf("Unknown installer type: %s. Supported types: binary, python", inst)
	}
	if url := spec.GetUrl(); url != "" {
		return nil, fmt.Errorf("the %s installer cannot fetch %q: flmctl's executor manager does not download application packages yet; "+
			"install the application on the node and register it without a url", kind, url)
	}
	// Installer without url: make the Python SDK bundled under FLAME_HOME
	// importable, if there is one (spec §8.5, §18.24).
	ver := m.pythonVersion(appEnv)
	key := appName(app) + "\x00" + kind + "\x00" + ver
	m.installMu.Lock()
	vars, ok := m.installed[key]
	m.installMu.Unlock()
	if ok {
		return vars, nil
	}
	site := filepath.Join(m.flameHome, "lib", "python"+ver, "site-packages")
	if fi, err := os.Stat(site); err != nil || !fi.IsDir() {
		// Not cached: the SDK may be installed later.
		return nil, nil
	}
	vars = &installVars{prepend: [][2]string{{"PYTHONPATH", site}}}
	if libs := soDirs(site, 4); len(libs) > 0 {
		vars.prepend = append(vars.prepend, [2]string{"LD_LIBRARY_PATH", strings.Join(libs, ":")})
	}
	vars.ifAbsent = [][2]string{{"FLAME_PYTHON_VERSION", ver}}
	m.installMu.Lock()
	m.installed[key] = vars
	m.installMu.Unlock()
	return vars, nil
}

// pythonVersion resolves the Python version of an application: its
// FLAME_PYTHON_VERSION (a leading "python" dropped), else the highest
// $FLAME_HOME/lib/python<X.Y>/site-packages, else 3.12 (spec §8.5).
func (m *Manager) pythonVersion(appEnv *envSet) string {
	if v, ok := appEnv.get("FLAME_PYTHON_VERSION"); ok {
		if v = strings.TrimPrefix(strings.TrimSpace(v), "python"); v != "" {
			return v
		}
	}
	entries, err := os.ReadDir(filepath.Join(m.flameHome, "lib"))
	if err != nil {
		return defaultPythonVersion
	}
	best, bestMajor, bestMinor := "", -1, -1
	for _, e := range entries {
		ver, ok := strings.CutPrefix(e.Name(), "python")
		if !ok {
			continue
		}
		maj, min, ok := parseMajorMinor(ver)
		if !ok || (maj < bestMajor || maj == bestMajor && min <= bestMinor) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(m.flameHome, "lib", e.Name(), "site-packages")); err == nil && fi.IsDir() {
			best, bestMajor, bestMinor = ver, maj, min
		}
	}
	if best == "" {
		return defaultPythonVersion
	}
	return best
}

func parseMajorMinor(v string) (int, int, bool) {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(a)
	min, err2 := strconv.Atoi(b)
	return maj, min, err1 == nil && err2 == nil && maj >= 0 && min >= 0
}

// soDirs lists, sorted, the directories under root (root included) that
// hold a *.so file at most maxDepth levels below root.
func soDirs(root string, maxDepth int) []string {
	found := map[string]bool{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		depth := 0
		if rel != "." {
			depth = strings.Count(rel, string(filepath.Separator)) + 1
		}
		if d.IsDir() {
			if depth >= maxDepth {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".so") || strings.Contains(d.Name(), ".so.") {
			found[filepath.Dir(p)] = true
		}
		return nil
	})
	dirs := make([]string, 0, len(found))
	for d := range found {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}

// instanceEnv builds the variables set on top of the manager's environment
// for one binding, in the order and with the precedence of spec §8.2:
// application environments (expanded from the manager's environment),
// RUST_LOG/FLAME_LOG, the Flame endpoints, HOME, installer variables, the
// temp dir variables.
func (m *Manager) instanceEnv(appEnv *envSet, vars *installVars, sock, framedSock, tmp string) *envSet {
	env := newEnvSet()
	for _, k := range appEnv.keys {
		env.set(k, appEnv.vals[k])
	}
	rustLog, ok := m.env.get("RUST_LOG")
	if !ok || rustLog == "" {
		rustLog = "info"
	}
	env.set("RUST_LOG", rustLog)
	env.set("FLAME_LOG", rustLog)
	env.set("FLAME_INSTANCE_ENDPOINT", sock)
	// Set even when not offered (empty): a value inherited from the
	// manager or the application must not make instances share a socket.
	env.set(instancewire.EndpointEnv, framedSock)
	if m.opts.ClusterEndpoint != "" {
		env.set("FLAME_ENDPOINT", m.opts.ClusterEndpoint)
	}
	if m.opts.CAFile != "" {
		env.set("FLAME_CA_FILE", m.opts.CAFile)
	}
	if m.opts.CacheEndpoint != "" {
		env.set("FLAME_CACHE_ENDPOINT", m.opts.CacheEndpoint)
	}
	if home, ok := m.env.get("HOME"); ok {
		env.setIfAbsent("HOME", home)
	}
	if m.opts.FlameHome != "" {
		if _, ok := m.env.get("FLAME_HOME"); !ok {
			env.setIfAbsent("FLAME_HOME", m.opts.FlameHome)
		}
	}
	if vars != nil {
		for _, kv := range vars.prepend {
			cur, ok := env.get(kv[0])
			if !ok {
				cur, ok = m.env.get(kv[0])
			}
			if ok && cur != "" {
				env.set(kv[0], kv[1]+":"+cur)
			} else {
				env.set(kv[0], kv[1])
			}
		}
		for _, kv := range vars.ifAbsent {
			env.setIfAbsent(kv[0], kv[1])
		}
	}
	env.setIfAbsent("TMPDIR", tmp)
	env.setIfAbsent("TEMP", tmp)
	env.setIfAbsent("TMP", tmp)
	return env
}

// appEnvironment expands the application's environments from the manager's
// environment (unknown variables left as written).
func (m *Manager) appEnvironment(app *flamev1.Application) *envSet {
	s := newEnvSet()
	for _, e := range app.GetSpec().GetEnvironments() {
		name := e.GetName()
		if name == "" || strings.ContainsAny(name, "=\x00") {
			continue
		}
		s.set(name, expand(e.GetValue(), m.env.get))
	}
	return s
}

// appName is the application's name, used in paths and messages.
func appName(app *flamev1.Application) string {
	if n := app.GetMetadata().GetName(); n != "" {
		return n
	}
	return app.GetMetadata().GetId()
}
