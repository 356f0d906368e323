package sessionmgr

import (
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flmctl/flmctl/internal/server/errs"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// maxSessionIDLen bounds client-chosen session ids (spec §18.1).
const maxSessionIDLen = 128

// validateAppName applies upstream's application name rules (spec §3.1).
// The error text is returned to the client in Result.message.
func validateAppName(name string) string {
	switch {
	case name == "":
		return "application name must not be empty"
	case len(name) > 253:
		return "application name must be at most 253 characters"
	case strings.Contains(name, ".."):
		return "application name " + strconv.Quote(name) + " must not contain \"..\""
	case name[0] == '.' || name[0] == '-':
		return "application name " + strconv.Quote(name) + " must not start with '.' or '-'"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "application name " + strconv.Quote(name) + " may contain only letters, digits, '.', '_' and '-'"
		}
	}
	return ""
}

// validateSessionID applies spec §18.1 to a client-chosen session id.
func validateSessionID(id string) error {
	if len(id) > maxSessionIDLen {
		return errs.InvalidArgument("session id %.20q... is %d characters long; the limit is %d", id, len(id), maxSessionIDLen)
	}
	for _, bad := range []string{"/", "\\", "..", ":"} {
		if strings.Contains(id, bad) {
			return errs.InvalidArgument("session id %q must not contain %q", id, bad)
		}
	}
	if strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 }) >= 0 {
		return errs.InvalidArgument("session id %q must not contain whitespace or control characters", id)
	}
	return nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// generateSessionID returns "<app>-<6 random alphanumerics>", the form
// upstream's SDKs use.
func generateSessionID(app string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return app + "-" + string(b[:])
}

func parseTaskID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.InvalidArgument("invalid task id %q: task ids are positive integers", s)
	}
	return id, nil
}

// validateAppSpec performs the request-shape checks upstream reports as gRPC
// errors (spec §4.1 steps 1–3) and normalises the spec in place.
func validateAppSpec(spec *flamev1.ApplicationSpec) error {
	if spec == nil {
		return errs.InvalidArgument("application spec is missing")
	}
	if s := spec.GetSchema(); s != nil {
		for _, f := range []struct {
			what string
			v    *string
		}{{"input", s.Input}, {"output", s.Output}, {"common data", s.CommonData}} {
			if f.v == nil || strings.TrimSpace(*f.v) == "" {
				continue
			}
			if err := checkJSONSchema(*f.v); err != nil {
				return errs.InvalidArgument("invalid %s schema: %v", f.what, err)
			}
		}
	}
	if wd := spec.WorkingDirectory; wd != nil {
		switch {
		case *wd == "":
			spec.WorkingDirectory = nil
		case !filepath.IsAbs(*wd):
			return errs.InvalidArgument("working_directory must be an absolute path, got: %s", *wd)
		}
	}
	return nil
}

// checkJSONSchema accepts what can be a JSON-Schema document: a JSON object
// or boolean. (Upstream also validates against the meta-schema; a document
// that parses but misuses keywords is accepted here.)
func checkJSONSchema(doc string) error {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return err
	}
	switch v.(type) {
	case map[string]any, bool:
		return nil
	}
	return errInvalidSchemaType
}

type schemaErr string

func (e schemaErr) Error() string { return string(e) }

const errInvalidSchemaType = schemaErr("a JSON schema must be an object or a boolean")
