package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func TestConnect_InvalidEndpoint(t *testing.T) {
	for _, endpoint := range []string{"", "127.0.0.1:8080", "localhost:8080", "ftp://127.0.0.1:8080", "grpc://127.0.0.1:9090", "http://"} {
		_, err := client.Connect(t.Context(), endpoint)
		var fe *client.FlameError
		if !errors.As(err, &fe) || fe.Code != client.CodeInvalidConfig || !errors.Is(err, client.ErrInvalidConfig) {
			t.Errorf("Connect(%q) error = %v, want CodeInvalidConfig", endpoint, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `"`+endpoint+`"`) || !strings.Contains(msg, "http://127.0.0.1:8080") {
			t.Errorf("Connect(%q) error %q does not name the value and show an example", endpoint, msg)
		}
	}
}

// closedPort returns a local address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func TestConnect_Unreachable(t *testing.T) {
	endpoint := "http://" + closedPort(t)
	start := time.Now()
	_, err := client.Connect(t.Context(), endpoint, client.WithConnectTimeout(300*time.Millisecond))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Connect took %v with a 300ms timeout", elapsed)
	}
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Connect error = %v, want ErrUnavailable", err)
	}
	for _, want := range []string{endpoint, "connection refused", `"flmctl cluster start"`, `"flmctl context use"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestConnect_NoWait(t *testing.T) {
	conn, err := client.Connect(t.Context(), "http://"+closedPort(t), client.WithConnectTimeout(0))
	if err != nil {
		t.Fatalf("Connect without waiting: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ListApplications(t.Context()); !errors.Is(err, client.ErrUnavailable) || !strings.HasPrefix(err.Error(), "list applications: cannot reach Flame at http://127.0.0.1:") {
		t.Errorf("ListApplications = %v, want ErrUnavailable", err)
	}
}

func TestConnect_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := client.Connect(ctx, "http://"+closedPort(t))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Connect(cancelled) = %v, want context.Canceled", err)
	}
}

func TestConnect_Endpoint(t *testing.T) {
	if got := connect(t, &stubFrontend{}).Endpoint(); got != stubEndpoint {
		t.Errorf("Endpoint() = %q, want %q", got, stubEndpoint)
	}
}

func TestConnect_CAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ca := range []string{filepath.Join(dir, "missing.pem"), notPEM} {
		_, err := client.Connect(t.Context(), "https://127.0.0.1:1", client.WithCAFile(ca))
		if !errors.Is(err, client.ErrInvalidConfig) || !strings.Contains(err.Error(), "ca_file") {
			t.Errorf("Connect with CA file %s = %v, want ErrInvalidConfig about ca_file", ca, err)
		}
	}
	// Plain http ignores the CA file.
	dial, stop := serveStub(&stubFrontend{})
	defer stop()
	conn, err := client.Connect(t.Context(), stubEndpoint, dial, client.WithCAFile(filepath.Join(dir, "missing.pem")))
	if err != nil {
		t.Fatalf("http with a CA file: %v", err)
	}
	_ = conn.Close()
}

// serveTLS serves a Frontend over TLS on 127.0.0.1:0 with a fresh self-signed
// certificate for 127.0.0.1 and returns the endpoint and the CA file.
func serveTLS(t *testing.T, stub *stubFrontend) (endpoint, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "flame test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	flamev1.RegisterFrontendServer(srv, stub)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "https://" + lis.Addr().String(), caFile
}

func TestConnect_TLS(t *testing.T) {
	endpoint, caFile := serveTLS(t, &stubFrontend{
		ListApplicationF: func(context.Context, *flamev1.ListApplicationRequest) (*flamev1.ApplicationList, error) {
			return &flamev1.ApplicationList{Applications: []*flamev1.Application{{Metadata: &flamev1.Metadata{Name: "flmping"}}}}, nil
		},
	})
	conn, err := client.ConnectResolved(t.Context(), &contexts.Resolved{Endpoint: endpoint, CAFile: caFile})
	if err != nil {
		t.Fatalf("ConnectResolved with the CA: %v", err)
	}
	defer conn.Close()
	if apps, err := conn.ListApplications(t.Context()); err != nil || len(apps) != 1 || apps[0].Name != "flmping" {
		t.Errorf("ListApplications over TLS = %v, %v", apps, err)
	}

	// Without the CA the system roots do not trust the server: Connect says so
	// at once instead of retrying until the timeout.
	start := time.Now()
	_, err = client.Connect(t.Context(), endpoint, client.WithConnectTimeout(time.Minute))
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("Connect without the CA = %v, want ErrUnavailable about the certificate", err)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("Connect without the CA took %v", elapsed)
	}
}

func TestConnect_Unix(t *testing.T) {
	dir, err := os.MkdirTemp("", "flm") // short: socket paths are limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "fe.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	flamev1.RegisterFrontendServer(srv, &stubFrontend{
		GetNodeF: func(_ context.Context, r *flamev1.GetNodeRequest) (*flamev1.GetNodeResponse, error) {
			return &flamev1.GetNodeResponse{Node: &flamev1.Node{Metadata: &flamev1.Metadata{Name: r.Name}}}, nil
		},
	})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := client.Connect(t.Context(), "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if n, err := conn.GetNode(t.Context(), "n1"); err != nil || n.Name != "n1" {
		t.Errorf("GetNode over a unix socket = %v, %v", n, err)
	}
}

func TestConnectResolved_Errors(t *testing.T) {
	if _, err := client.ConnectResolved(t.Context(), nil); !errors.Is(err, client.ErrInvalidConfig) {
		t.Errorf("ConnectResolved(nil) = %v, want ErrInvalidConfig", err)
	}
	_, err := client.ConnectResolved(t.Context(), &contexts.Resolved{Endpoint: "https://127.0.0.1:1", CAFile: filepath.Join(t.TempDir(), "none.pem")})
	if !errors.Is(err, client.ErrInvalidConfig) {
		t.Errorf("ConnectResolved with a missing CA file = %v, want ErrInvalidConfig", err)
	}
}
