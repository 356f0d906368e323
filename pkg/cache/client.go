package cache

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/internal/flightwire"
	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
)

// Options configure a Client.
type Options struct {
	// Endpoint is the cache server that Put, Upload, Delete and List use,
	// e.g. "grpc://127.0.0.1:9090". Get, Update, Patch and Download use the
	// endpoint inside the ObjectRef they are given.
	Endpoint string
	// CAFile verifies TLS cache servers (grpcs:// or grpc+tls://); "" means
	// the system roots.
	CAFile string
	// LocalEntries and LocalBytes bound the client-side cache of fetched
	// objects; 0 means 1000 entries and 256 MiB, negative turns it off.
	LocalEntries int
	LocalBytes   int64
}

// Client reads and writes Flame's object cache. It is safe for concurrent
// use; connections to cache servers are made on first use and pooled per
// endpoint.
type Client struct {
	endpoint string
	creds    func(contexts.Endpoint) (credentials.TransportCredentials, error)
	local    *localCache

	mu    sync.Mutex
	conns map[string]flight.Client
}

// New returns a client. It does not dial: the first call does.
func New(opts Options) (*Client, error) {
	if opts.Endpoint == "" {
		opts.Endpoint = contexts.DefaultCacheEndpoint
	}
	if _, err := contexts.ParseCacheEndpoint(opts.Endpoint); err != nil {
		return nil, client.NewError(client.CodeInvalidConfig, err.Error(), err)
	}
	c := &Client{endpoint: opts.Endpoint, conns: map[string]flight.Client{}}
	c.creds = func(ep contexts.Endpoint) (credentials.TransportCredentials, error) {
		if !ep.TLS {
			return insecure.NewCredentials(), nil
		}
		cfg := &tls.Config{ServerName: ep.Host, MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, client.NewError(client.CodeInvalidConfig, fmt.Sprintf("read the cache CA file: %v; fix cache.tls.ca_file in flame.yaml or FLAME_CA_FILE", err), err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, client.NewError(client.CodeInvalidConfig, fmt.Sprintf("cache CA file %q holds no PEM certificate", opts.CAFile), nil)
			}
		}
		return credentials.NewTLS(cfg), nil
	}
	entries, bytes := opts.LocalEntries, opts.LocalBytes
	if entries == 0 {
		entries = 1000
	}
	if bytes == 0 {
		bytes = 256 << 20
	}
	if entries > 0 && bytes > 0 {
		c.local = newLocalCache(entries, bytes)
	}
	return c, nil
}

// NewResolved returns a client for the cache of a resolved context (its
// endpoint, after FLAME_CACHE_ENDPOINT, and its CA file).
func NewResolved(r *contexts.Resolved) (*Client, error) {
	return New(Options{Endpoint: r.CacheEndpoint, CAFile: r.CacheCAFile})
}

// Endpoint returns the endpoint Put, Upload, Delete and List use.
func (c *Client) Endpoint() string { return c.endpoint }

// Close closes every connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for ep, fc := range c.conns {
		errs = append(errs, fc.Close())
		delete(c.conns, ep)
	}
	return errors.Join(errs...)
}

// conn returns the pooled Flight client for endpoint.
func (c *Client) conn(endpoint string) (flight.Client, error) {
	if endpoint == "" {
		endpoint = c.endpoint
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fc := c.conns[endpoint]; fc != nil {
		return fc, nil
	}
	ep, err := contexts.ParseCacheEndpoint(endpoint)
	if err != nil {
		return nil, client.NewError(client.CodeInvalidConfig, err.Error(), err)
	}
	creds, err := c.creds(ep)
	if err != nil {
		return nil, err
	}
	fc, err := flight.NewClientWithMiddleware("passthrough:///"+ep.Address(), nil, nil,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32),
			grpc.ForceCodecV2(flightwire.Codec{})),
		// Fixed, large windows: bulk transfers are the point of the cache.
		grpc.WithInitialWindowSize(8<<20),
		grpc.WithInitialConnWindowSize(32<<20),
		grpc.WithReadBufferSize(256<<10),
		grpc.WithWriteBufferSize(256<<10),
	)
	if err != nil {
		return nil, client.NewError(client.CodeInvalidConfig, fmt.Sprintf("cache endpoint %s: %v", endpoint, err), err)
	}
	c.conns[endpoint] = fc
	return fc, nil
}

// wrap turns an RPC error into a *client.FlameError naming the operation.
func wrap(op, endpoint string, err error) error {
	if err == nil {
		return nil
	}
	var fe *client.FlameError
	if errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return client.NewError(client.CodeInternal, op+": "+err.Error(), err)
	}
	msg := st.Message()
	code := client.CodeInternal
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	case codes.NotFound:
		code = client.CodeNotFound
	case codes.InvalidArgument:
		code = client.CodeInvalidArgument
	case codes.FailedPrecondition:
		code = client.CodeInvalidState
	case codes.AlreadyExists:
		code = client.CodeAlreadyExists
	case codes.Unavailable:
		code = client.CodeUnavailable
		msg = fmt.Sprintf("cannot reach the object cache at %s: %s; start a cluster with \"flmctl cluster start\", or set cache.endpoint in flame.yaml or FLAME_CACHE_ENDPOINT", endpoint, msg)
	case codes.Unimplemented:
		code = client.CodeInvalidConfig
		msg = fmt.Sprintf("%s: is %s an object cache?", msg, endpoint)
	}
	return client.NewError(code, op+": "+strings.TrimSpace(msg), err)
}

func keyErr(err error) error {
	return client.NewError(client.CodeInvalidArgument, err.Error(), err)
}
