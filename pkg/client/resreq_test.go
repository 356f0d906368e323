package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/flmctl/flmctl/pkg/client"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestParseResourceRequirement(t *testing.T) {
	const (
		ki = 1 << 10
		mi = 1 << 20
		gi = 1 << 30
		ti = 1 << 40
		pi = 1 << 50
	)
	tests := []struct {
		in   string
		want client.ResourceRequirement
	}{
		{"cpu=1,mem=256", client.ResourceRequirement{CPU: 1, Memory: 256}},
		{"cpu=1,mem=1k", client.ResourceRequirement{CPU: 1, Memory: ki}},
		{"cpu=1,memory=1g", client.ResourceRequirement{CPU: 1, Memory: gi}},
		{"cpu=2,mem=4g,gpu=1", client.ResourceRequirement{CPU: 2, Memory: 4 * gi, GPU: 1}},
		{" CPU = 3 , Mem = 2 GiB ,GPU=0 ", client.ResourceRequirement{CPU: 3, Memory: 2 * gi}},
		{"gpu=2", client.ResourceRequirement{GPU: 2}},
		{"mem=0", client.ResourceRequirement{}},
		{"mem=7b", client.ResourceRequirement{Memory: 7}},
		{"mem=7B", client.ResourceRequirement{Memory: 7}},
		{"mem=3kb", client.ResourceRequirement{Memory: 3 * ki}},
		{"mem=3Ki", client.ResourceRequirement{Memory: 3 * ki}},
		{"mem=3kib", client.ResourceRequirement{Memory: 3 * ki}},
		{"mem=5m", client.ResourceRequirement{Memory: 5 * mi}},
		{"mem=5MB", client.ResourceRequirement{Memory: 5 * mi}},
		{"mem=5mi", client.ResourceRequirement{Memory: 5 * mi}},
		{"mem=5MiB", client.ResourceRequirement{Memory: 5 * mi}},
		{"mem=6gb", client.ResourceRequirement{Memory: 6 * gi}},
		{"mem=6gi", client.ResourceRequirement{Memory: 6 * gi}},
		{"mem=2t", client.ResourceRequirement{Memory: 2 * ti}},
		{"mem=2TB", client.ResourceRequirement{Memory: 2 * ti}},
		{"mem=2ti", client.ResourceRequirement{Memory: 2 * ti}},
		{"mem=2tib", client.ResourceRequirement{Memory: 2 * ti}},
		{"mem=1p", client.ResourceRequirement{Memory: pi}},
		{"mem=1pb", client.ResourceRequirement{Memory: pi}},
		{"mem=1pi", client.ResourceRequirement{Memory: pi}},
		{"mem=1PiB", client.ResourceRequirement{Memory: pi}},
		{"mem=16383p", client.ResourceRequirement{Memory: 16383 * pi}},
		{"cpu=18446744073709551615", client.ResourceRequirement{CPU: 1<<64 - 1}},
		{"gpu=2147483647", client.ResourceRequirement{GPU: 1<<31 - 1}},
	}
	for _, tt := range tests {
		got, err := client.ParseResourceRequirement(tt.in)
		if err != nil {
			t.Errorf("ParseResourceRequirement(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseResourceRequirement(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseResourceRequirement_Errors(t *testing.T) {
	tests := []struct {
		in   string
		want string // in the message, besides the input itself
	}{
		{"", "it is empty"},
		{"   ", "it is empty"},
		{"cpu=1,", "entry 2 is empty"},
		{",cpu=1", "entry 1 is empty"},
		{"cpu=1,,gpu=1", "entry 2 is empty"},
		{"cpu", `entry "cpu" is not key=value`},
		{"cpu=1,mem", `entry "mem" is not key=value`},
		{"cpu=1=2", `entry "cpu=1=2" has more than one "="`},
		{"gpu=", `entry "gpu=" has no value`},
		{"mem= ", `entry "mem=" has no value`},
		{"foo=1", `unknown key "foo"`},
		{"cpus=1", `unknown key "cpus"`},
		{"cpu=abc", `cpu value "abc" is not a non-negative integer`},
		{"cpu=1.5", `cpu value "1.5" is not a non-negative integer`},
		{"cpu=-1", `cpu value "-1" is not a non-negative integer`},
		{"cpu=+1", `cpu value "+1" is not a non-negative integer`},
		{"cpu=1g", `cpu value "1g" is not a non-negative integer`},
		{"gpu=-1", `gpu value "-1" is not a non-negative integer`},
		{"gpu=2147483648", `gpu value "2147483648" is too large`},
		{"cpu=18446744073709551616", `cpu value "18446744073709551616" is too large`},
		{"mem=abc", `mem value "abc" is not a size`},
		{"mem=g", `mem value "g" is not a size`},
		{"mem=-1g", `mem value "-1g" is not a size`},
		{"mem=1.5g", `mem value "1.5g" is not a size`},
		{"mem=1x", `mem value "1x" is not a size`},
		{"mem=1gig", `mem value "1gig" is not a size`},
		{"memory=16384p", `mem value "16384p" is too large`},
		{"mem=18446744073709551616", `mem value "18446744073709551616" is too large`},
		{"cpu=1,cpu=2", "cpu is given more than once"},
		{"mem=1,memory=2", "mem is given more than once"},
	}
	for _, tt := range tests {
		_, err := client.ParseResourceRequirement(tt.in)
		if err == nil {
			t.Errorf("ParseResourceRequirement(%q) succeeded, want an error", tt.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) || !strings.Contains(msg, `"`+tt.in+`"`) || !strings.Contains(msg, "cpu=1,mem=1g,gpu=0") {
			t.Errorf("ParseResourceRequirement(%q) error %q; want it to quote the input, contain %q and show an example", tt.in, msg, tt.want)
		}
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("ParseResourceRequirement(%q) error does not match ErrInvalidArgument", tt.in)
		}
	}
}

func TestResourceRequirement_String(t *testing.T) {
	tests := []struct {
		r    client.ResourceRequirement
		want string
	}{
		{client.ResourceRequirement{}, "cpu=0,mem=0,gpu=0"},
		{client.ResourceRequirement{CPU: 1, Memory: 1 << 30}, "cpu=1,mem=1g,gpu=0"},
		{client.ResourceRequirement{CPU: 2, Memory: 1536 << 20, GPU: 1}, "cpu=2,mem=1536m,gpu=1"},
		{client.ResourceRequirement{Memory: 1024}, "cpu=0,mem=1k,gpu=0"},
		{client.ResourceRequirement{Memory: 1025}, "cpu=0,mem=1025,gpu=0"},
		{client.ResourceRequirement{Memory: 512}, "cpu=0,mem=512,gpu=0"},
		{client.ResourceRequirement{Memory: 3 << 40}, "cpu=0,mem=3t,gpu=0"},
		{client.ResourceRequirement{Memory: 5 << 50}, "cpu=0,mem=5p,gpu=0"},
		{client.ResourceRequirement{Memory: 1<<64 - 1}, "cpu=0,mem=18446744073709551615,gpu=0"},
		{client.ResourceRequirement{Memory: 16383 << 50}, "cpu=0,mem=16383p,gpu=0"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
		back, err := client.ParseResourceRequirement(tt.r.String())
		if err != nil || back != tt.r {
			t.Errorf("ParseResourceRequirement(%q) = %+v, %v; want %+v", tt.r.String(), back, err, tt.r)
		}
	}
}

func TestResourceRequirement_Proto(t *testing.T) {
	r := client.ResourceRequirement{CPU: 4, Memory: 8 << 30, GPU: 2}
	p := r.Proto()
	if p.GetCpu() != 4 || p.GetMemory() != 8<<30 || p.GetGpu() != 2 {
		t.Errorf("Proto() = %v", p)
	}
	if back := client.ResourceRequirementFromProto(p); back != r {
		t.Errorf("ResourceRequirementFromProto(%v) = %+v, want %+v", p, back, r)
	}
	if zero := client.ResourceRequirementFromProto((*flamev1.ResourceRequirement)(nil)); zero != (client.ResourceRequirement{}) {
		t.Errorf("ResourceRequirementFromProto(nil) = %+v, want zero", zero)
	}
}
