package contexts

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		raw      string
		want     Endpoint
		wantAddr string
		wantErr  string
	}{
		{raw: "http://127.0.0.1:8080", want: Endpoint{Scheme: "http", Host: "127.0.0.1", Port: 8080}, wantAddr: "127.0.0.1:8080"},
		{raw: "http://flame", want: Endpoint{Scheme: "http", Host: "flame", Port: 8080}, wantAddr: "flame:8080"},
		{raw: "http://flame:80/", want: Endpoint{Scheme: "http", Host: "flame", Port: 80}, wantAddr: "flame:80"},
		{raw: "https://flame.example.com", want: Endpoint{Scheme: "https", Host: "flame.example.com", Port: 8080, TLS: true}, wantAddr: "flame.example.com:8080"},
		{raw: "HTTPS://Flame:443", want: Endpoint{Scheme: "https", Host: "Flame", Port: 443, TLS: true}, wantAddr: "Flame:443"},
		{raw: "http://[::1]:9000", want: Endpoint{Scheme: "http", Host: "::1", Port: 9000}, wantAddr: "[::1]:9000"},
		{raw: " http://flame:1 ", want: Endpoint{Scheme: "http", Host: "flame", Port: 1}, wantAddr: "flame:1"},
		{raw: "unix:///run/flame.sock", want: Endpoint{Scheme: "unix", Path: "/run/flame.sock"}, wantAddr: "unix:///run/flame.sock"},
		{raw: "unix:/run/flame.sock", want: Endpoint{Scheme: "unix", Path: "/run/flame.sock"}, wantAddr: "unix:///run/flame.sock"},

		{raw: "", wantErr: `invalid cluster endpoint "": it is empty; want http://, https:// or unix:// (e.g. http://127.0.0.1:8080)`},
		{raw: "127.0.0.1:8080", wantErr: `invalid cluster endpoint "127.0.0.1:8080": missing scheme; want http://, https:// or unix:// (e.g. http://127.0.0.1:8080)`},
		{raw: "localhost:8080", wantErr: `missing scheme`},
		{raw: "flame", wantErr: `missing scheme`},
		{raw: "http:flame", wantErr: `missing scheme`},
		{raw: "grpc://flame:8080", wantErr: `unsupported scheme "grpc"; want http://, https:// or unix://`},
		{raw: "ftp://flame", wantErr: `unsupported scheme "ftp"`},
		{raw: "http://", wantErr: `missing host`},
		{raw: "http://:8080", wantErr: `missing host`},
		{raw: "http://flame:0", wantErr: `port 0 is out of range 1-65535`},
		{raw: "http://flame:65536", wantErr: `port 65536 is out of range 1-65535`},
		{raw: "http://flame:x", wantErr: `invalid port ":x" after host`},
		{raw: "http://flame:8080/api", wantErr: `unexpected path, query or fragment after the host`},
		{raw: "http://flame:8080?a=b", wantErr: `unexpected path, query or fragment`},
		{raw: "http://user@flame", wantErr: `user info is not supported`},
		{raw: "unix://run/flame.sock", wantErr: `invalid cluster endpoint "unix://run/flame.sock": a unix endpoint needs an absolute socket path`},
		{raw: "unix:flame.sock", wantErr: `a unix endpoint needs an absolute socket path`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseEndpoint(tt.raw)
			checkEndpoint(t, tt.raw, got, err, tt.want, tt.wantAddr, tt.wantErr)
		})
	}
}

func TestParseCacheEndpoint(t *testing.T) {
	tests := []struct {
		raw      string
		want     Endpoint
		wantAddr string
		wantErr  string
	}{
		{raw: "grpc://127.0.0.1:9090", want: Endpoint{Scheme: "grpc", Host: "127.0.0.1", Port: 9090}, wantAddr: "127.0.0.1:9090"},
		{raw: "grpc://cache", want: Endpoint{Scheme: "grpc", Host: "cache", Port: 9090}, wantAddr: "cache:9090"},
		{raw: "grpcs://cache:1", want: Endpoint{Scheme: "grpcs", Host: "cache", Port: 1, TLS: true}, wantAddr: "cache:1"},
		{raw: "grpc+tls://cache", want: Endpoint{Scheme: "grpc+tls", Host: "cache", Port: 9090, TLS: true}, wantAddr: "cache:9090"},

		{raw: "cache:9090", wantErr: `invalid cache endpoint "cache:9090": missing scheme; want grpc://, grpcs:// or grpc+tls:// (e.g. grpc://127.0.0.1:9090)`},
		{raw: "http://cache:9090", wantErr: `unsupported scheme "http"`},
		{raw: "unix:///run/cache.sock", wantErr: `unsupported scheme "unix"`},
		{raw: "grpc://", wantErr: `missing host`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseCacheEndpoint(tt.raw)
			checkEndpoint(t, tt.raw, got, err, tt.want, tt.wantAddr, tt.wantErr)
		})
	}
}

func checkEndpoint(t *testing.T, raw string, got Endpoint, err error, want Endpoint, wantAddr, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("parse(%q) = %+v, %v; want error containing %q", raw, got, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("parse(%q) error = %v", raw, err)
	}
	want.Raw = raw
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parse(%q) mismatch (-want +got):\n%s", raw, diff)
	}
	if addr := got.Address(); addr != wantAddr {
		t.Errorf("Address() = %q, want %q", addr, wantAddr)
	}
}
