package builtin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	// defaultPythonVersion and defaultFlameHome are upstream flmexec's.
	defaultPythonVersion = "3.12"
	defaultFlameHome     = "/usr/local/flame"
)

// pythonEnvAllowed lists the variables a Python script inherits, besides
// every UV_* variable (uv's own settings). It is upstream's list: what the
// Flame SDK inside the script needs to reach the cluster and cache, and what
// Python and uv need to run at all.
var pythonEnvAllowed = []string{
	"PYTHONPATH", "FLAME_HOME", "FLAME_PYTHON_VERSION",
	"FLAME_ENDPOINT", "FLAME_CACHE_ENDPOINT", "FLAME_CA_FILE", "FLAME_CERT_FILE", "FLAME_KEY_FILE",
	"XDG_CACHE_HOME", "PATH", "HOME", "USER", "TMPDIR", "TMP", "TEMP",
}

func (e *Exec) runPython(ctx context.Context, s *script) ([]byte, error) {
	env := pythonEnv(e.environ())
	home := env["FLAME_HOME"]
	if home == "" {
		home = defaultFlameHome
		env["FLAME_HOME"] = home
	}
	version := pythonVersion(s.Runtime, env["FLAME_PYTHON_VERSION"], home)
	env["FLAME_PYTHON_VERSION"] = version
	// Make the Flame-bundled SDK importable, as the python installer does.
	if sitePackages := filepath.Join(home, "lib", "python"+version, "site-packages"); isDir(sitePackages) {
		env["PYTHONPATH"] = prependPath(sitePackages, env["PYTHONPATH"])
	}
	argv, err := pythonCommand(home, env["PATH"], version, strings.TrimSpace(s.Runtime) != "")
	if err != nil {
		return nil, err
	}

	dir, entry, err := e.writeScript("python-", "main.py", s.Code)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	return e.run(ctx, dir, envList(env), s.Input, append(argv, entry)...)
}

// pythonEnv keeps the allowed variables of environ.
func pythonEnv(environ []string) map[string]string {
	env := make(map[string]string)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if slices.Contains(pythonEnvAllowed, k) || strings.HasPrefix(k, "UV_") {
			env[k] = v
		}
	}
	return env
}

// envList turns env into KEY=VALUE pairs, sorted for a stable environment.
func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	slices.Sort(list)
	return list
}

// pythonVersion picks the Python version: the script's runtime, else
// FLAME_PYTHON_VERSION, else the newest Flame-bundled site-packages, else
// the default. "python3.11" and "3.11" mean the same.
func pythonVersion(runtime, envVersion, flameHome string) string {
	for _, v := range []string{runtime, envVersion} {
		if v = strings.TrimPrefix(strings.TrimSpace(v), "python"); v != "" {
			return v
		}
	}
	if v := newestBundledPython(flameHome); v != "" {
		return v
	}
	return defaultPythonVersion
}

// newestBundledPython returns the highest X.Y for which
// <flameHome>/lib/pythonX.Y/site-packages exists, or "".
func newestBundledPython(flameHome string) string {
	entries, err := os.ReadDir(filepath.Join(flameHome, "lib"))
	if err != nil {
		return ""
	}
	var versions []string
	for _, entry := range entries {
		v, ok := strings.CutPrefix(entry.Name(), "python")
		if ok && v != "" && isDir(filepath.Join(flameHome, "lib", entry.Name(), "site-packages")) {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return ""
	}
	// Numerically, so that 3.10 is newer than 3.9.
	return slices.MaxFunc(versions, func(a, b string) int {
		return slices.Compare(versionParts(a), versionParts(b))
	})
}

func versionParts(v string) []int {
	var parts []int
	for p := range strings.SplitSeq(v, ".") {
		n, _ := strconv.Atoi(p) // a non-number sorts as 0, as upstream's does
		parts = append(parts, n)
	}
	return parts
}

// pythonCommand returns the command that runs main.py (appended by the
// caller): uv when there is one, else a Python interpreter from PATH.
func pythonCommand(flameHome, path, version string, versionRequested bool) ([]string, error) {
	uv := filepath.Join(flameHome, "bin", "uv")
	if !isExecutable(uv) {
		uv, _ = lookPathIn("uv", path)
	}
	if uv != "" {
		return []string{uv, "run", "--python", version}, nil
	}
	if python, ok := lookPathIn("python"+version, path); ok {
		return []string{python}, nil
	}
	if versionRequested {
		return nil, fmt.Errorf("python%s is not on PATH and uv was not found: install Python %s, or uv "+
			"(in $FLAME_HOME/bin or on PATH), to run this script", version, version)
	}
	if python, ok := lookPathIn("python3", path); ok {
		return []string{python}, nil
	}
	return nil, fmt.Errorf("no Python to run the script: install uv (in $FLAME_HOME/bin or on PATH) or python3 on PATH")
}

// lookPathIn finds an executable named name in the directories of path (a
// PATH value), like exec.LookPath but for the script's PATH, not ours.
func lookPathIn(name, path string) (string, bool) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// prependPath puts dir first in a path list, dropping empty entries and any
// other copy of dir.
func prependPath(dir, list string) string {
	parts := []string{dir}
	for _, p := range filepath.SplitList(list) {
		if p != "" && p != dir {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, string(os.PathListSeparator))
}
