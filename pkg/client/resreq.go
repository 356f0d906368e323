package client

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// ResourceRequirement is what one executor of a session needs.
type ResourceRequirement struct {
	CPU    uint64 // cores
	Memory uint64 // bytes
	GPU    int32  // devices
}

const resreqExample = `"cpu=1,mem=1g,gpu=0"`

// sizeUnits are the memory units, all binary, largest first (String picks the
// first one that divides the value exactly).
var sizeUnits = []struct {
	name    string
	aliases []string
	factor  uint64
}{
	{"p", []string{"p", "pb", "pi", "pib"}, 1 << 50},
	{"t", []string{"t", "tb", "ti", "tib"}, 1 << 40},
	{"g", []string{"g", "gb", "gi", "gib"}, 1 << 30},
	{"m", []string{"m", "mb", "mi", "mib"}, 1 << 20},
	{"k", []string{"k", "kb", "ki", "kib"}, 1 << 10},
	{"", []string{"", "b"}, 1},
}

// ParseResourceRequirement parses the string form used by configs and flags:
// comma-separated key=value entries with the keys cpu, mem (or memory) and gpu,
// e.g. "cpu=2,mem=4g,gpu=1". Keys are case-insensitive and whitespace around
// entries, keys and values is ignored. Memory takes an optional binary unit
// (k/kb/ki/kib = 1024 bytes, likewise m, g, t, p; b or none = bytes); all values
// are non-negative integers. Missing keys are 0. A key given twice is an error.
func ParseResourceRequirement(s string) (ResourceRequirement, error) {
	var r ResourceRequirement
	fail := func(format string, args ...any) (ResourceRequirement, error) {
		return ResourceRequirement{}, errorf(CodeInvalidArgument, "invalid resource requirement %q: %s; use e.g. %s",
			s, fmt.Sprintf(format, args...), resreqExample)
	}
	if strings.TrimSpace(s) == "" {
		return fail("it is empty")
	}
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return fail("entry %d is empty", i+1)
		}
		key, value, ok := strings.Cut(entry, "=")
		if !ok {
			return fail("entry %q is not key=value", entry)
		}
		if strings.Contains(value, "=") {
			return fail("entry %q has more than one \"=\"", entry)
		}
		key, value = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(value)
		if key == "memory" {
			key = "mem"
		}
		if value == "" {
			return fail("entry %q has no value", entry)
		}
		if seen[key] {
			return fail("%s is given more than once", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "cpu":
			r.CPU, err = parseCount(value, 64)
		case "gpu":
			var n uint64
			n, err = parseCount(value, 31)
			r.GPU = int32(n)
		case "mem":
			r.Memory, err = parseSize(value)
		default:
			return fail("unknown key %q; valid keys are cpu, mem (or memory) and gpu", key)
		}
		if err != nil {
			return fail("%s value %q %v", key, value, err)
		}
	}
	return r, nil
}

func parseCount(v string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, bits)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("is too large (at most %d)", uint64(1)<<bits-1)
	}
	if err != nil {
		return 0, errors.New("is not a non-negative integer")
	}
	return n, nil
}

func parseSize(v string) (uint64, error) {
	digits := len(v) - len(strings.TrimLeft(v, "0123456789"))
	unit := strings.ToLower(strings.TrimSpace(v[digits:]))
	for _, u := range sizeUnits {
		if digits == 0 || !slices.Contains(u.aliases, unit) {
			continue
		}
		n, err := strconv.ParseUint(v[:digits], 10, 64)
		if err != nil || n > math.MaxUint64/u.factor {
			return 0, errors.New("is too large (at most 2^64-1 bytes)")
		}
		return n * u.factor, nil
	}
	return 0, errors.New("is not a size; use an integer with an optional unit b, k, m, g, t or p (binary, e.g. 512m)")
}

// String formats r in the canonical form, e.g. "cpu=1,mem=1g,gpu=0", using the
// largest unit that represents the memory exactly. ParseResourceRequirement
// accepts it back unchanged.
func (r ResourceRequirement) String() string {
	mem := strconv.FormatUint(r.Memory, 10)
	for _, u := range sizeUnits {
		if r.Memory != 0 && u.factor > 1 && r.Memory%u.factor == 0 {
			mem = strconv.FormatUint(r.Memory/u.factor, 10) + u.name
			break
		}
	}
	return fmt.Sprintf("cpu=%d,mem=%s,gpu=%d", r.CPU, mem, r.GPU)
}

// Proto converts r to its wire form.
func (r ResourceRequirement) Proto() *flamev1.ResourceRequirement {
	return &flamev1.ResourceRequirement{Cpu: r.CPU, Memory: r.Memory, Gpu: r.GPU}
}

// ResourceRequirementFromProto converts the wire form; nil gives the zero value.
func ResourceRequirementFromProto(p *flamev1.ResourceRequirement) ResourceRequirement {
	return ResourceRequirement{CPU: p.GetCpu(), Memory: p.GetMemory(), GPU: p.GetGpu()}
}
