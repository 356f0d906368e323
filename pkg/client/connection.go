package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/flmctl/flmctl/pkg/contexts"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Defaults of the connect options.
const (
	// DefaultConnectTimeout bounds how long Connect waits for the server, as flamepy does.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxWatchStreams bounds the WatchTask streams that futures of one
	// connection keep open at once (flamepy watches with 10 threads). It stays
	// below the 200 concurrent streams per connection that hyper, under
	// upstream's server, allows by default, leaving room for other calls.
	DefaultMaxWatchStreams = 128
)

// Connection is a client of one Flame frontend. It is safe for concurrent use.
type Connection struct {
	endpoint string
	cc       *grpc.ClientConn
	frontend flamev1.FrontendClient
	watches  *watchPool
}

type connectOptions struct {
	caFile          string
	dialOptions     []grpc.DialOption
	connectTimeout  time.Duration
	maxWatchStreams int
}

// ConnectOption configures Connect.
type ConnectOption func(*connectOptions)

// WithCAFile verifies an https endpoint with the PEM certificates in path
// instead of the system roots. It is ignored for other endpoints.
func WithCAFile(path string) ConnectOption {
	return func(o *connectOptions) { o.caFile = path }
}

// WithDialOptions adds gRPC dial options after the client's own, so they win;
// tests use it to dial an in-memory listener (grpc.WithContextDialer).
func WithDialOptions(opts ...grpc.DialOption) ConnectOption {
	return func(o *connectOptions) { o.dialOptions = append(o.dialOptions, opts...) }
}

// WithConnectTimeout sets how long Connect waits for the server to answer
// (DefaultConnectTimeout when not given). A non-positive d skips the wait:
// the first call then connects, and fails with CodeUnavailable if it cannot.
func WithConnectTimeout(d time.Duration) ConnectOption {
	return func(o *connectOptions) { o.connectTimeout = d }
}

// WithMaxWatchStreams bounds the WatchTask streams (and goroutines) that the
// futures of Session.Run use at once (DefaultMaxWatchStreams when not given);
// further futures queue until a stream is free. Values below 1 mean 1.
func WithMaxWatchStreams(n int) ConnectOption {
	return func(o *connectOptions) { o.maxWatchStreams = max(n, 1) }
}

// Connect connects to the Flame frontend at endpoint, which is
// "http://host:port", "https://host:port" (TLS, server name = host) or
// "unix:///path". It waits until the server answers (see WithConnectTimeout) and
// returns CodeUnavailable if it does not; ctx bounds only that wait.
func Connect(ctx context.Context, endpoint string, opts ...ConnectOption) (*Connection, error) {
	o := connectOptions{connectTimeout: DefaultConnectTimeout, maxWatchStreams: DefaultMaxWatchStreams}
	for _, opt := range opts {
		opt(&o)
	}
	target, creds, err := dialTarget(endpoint, o.caFile)
	if err != nil {
		return nil, err
	}
	dialOptions := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		// 5 minutes is the shortest ping interval a grpc-go server tolerates by
		// default (EnforcementPolicy.MinTime); pinging more often gets the
		// connection closed with too_many_pings, killing long task watches.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Minute, Timeout: 20 * time.Second}),
		// Fixed flow-control windows turn off grpc-go's bandwidth probing,
		// which costs up to one ping per call that receives data (every task
		// watch and every CreateTask answer).
		grpc.WithInitialWindowSize(4 << 20),
		grpc.WithInitialConnWindowSize(16 << 20),
		// Retry quickly so that a server that is still starting is found within
		// the connect timeout (gRPC's default first retry comes after 1 s, then 1.6 s, ...).
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 20 * time.Second,
		}),
	}, o.dialOptions...)
	cc, err := grpc.NewClient(target, dialOptions...)
	if err != nil {
		return nil, errorf(CodeInvalidConfig, "connect to Flame at %s: %v", endpoint, err)
	}
	c := &Connection{
		endpoint: endpoint,
		cc:       cc,
		frontend: flamev1.NewFrontendClient(cc),
		watches:  &watchPool{limit: o.maxWatchStreams},
	}
	if o.connectTimeout > 0 {
		if err := c.waitReady(ctx, o.connectTimeout); err != nil {
			_ = cc.Close()
			return nil, err
		}
	}
	return c, nil
}

// ConnectResolved connects to the cluster of a resolved flame.yaml context,
// using its CA file for https endpoints.
func ConnectResolved(ctx context.Context, r *contexts.Resolved, opts ...ConnectOption) (*Connection, error) {
	if r == nil {
		return nil, errorf(CodeInvalidConfig, "connect to Flame: no resolved context given")
	}
	if r.CAFile != "" {
		opts = append([]ConnectOption{WithCAFile(r.CAFile)}, opts...)
	}
	return Connect(ctx, r.Endpoint, opts...)
}

// dialTarget validates a Flame endpoint and returns the gRPC target and transport
// credentials for it. The target is never the endpoint URL itself: gRPC would
// accept "http://host:port" and fail later with "too many colons in address".
func dialTarget(endpoint, caFile string) (string, credentials.TransportCredentials, error) {
	ep, err := contexts.ParseEndpoint(endpoint)
	if err != nil {
		return "", nil, &FlameError{Code: CodeInvalidConfig, Message: err.Error(), err: err}
	}
	switch {
	case ep.Scheme == "unix":
		return ep.Address(), insecure.NewCredentials(), nil
	case !ep.TLS:
		// passthrough hands host:port to the dialer as it is, like grpc.Dial did: a
		// custom dialer (tests) needs no resolvable name, and net.Dialer resolves the rest.
		return "passthrough:///" + ep.Address(), insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{ServerName: ep.Host, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return "", nil, errorf(CodeInvalidConfig, "read the CA file for %s: %v; fix cluster.tls.ca_file in flame.yaml or FLAME_CA_FILE", endpoint, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return "", nil, errorf(CodeInvalidConfig, "CA file %q holds no PEM certificate; fix cluster.tls.ca_file in flame.yaml or FLAME_CA_FILE", caFile)
		}
	}
	return "passthrough:///" + ep.Address(), credentials.NewTLS(cfg), nil
}

// waitReady waits up to timeout for the channel to become ready.
func (c *Connection) waitReady(ctx context.Context, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.cc.Connect()
	reason := ""
	for {
		s := c.cc.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if s == connectivity.TransientFailure {
			// A fail-fast call on a failing channel returns the connection
			// error, which says why (refused, TLS, DNS, ...).
			_, err := c.frontend.ListApplication(wctx, &flamev1.ListApplicationRequest{})
			if err == nil {
				return nil
			}
			if st := status.Convert(err); st.Code() == codes.Unavailable {
				reason = ": " + st.Message()
				// Unlike a server that is still starting, a certificate that
				// is not trusted does not get better by waiting.
				if strings.Contains(reason, "authentication handshake failed") {
					break
				}
			}
		}
		if !c.cc.WaitForStateChange(wctx, s) {
			break
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("connect to Flame at %s: %w", c.endpoint, ctx.Err())
	}
	return errorf(CodeUnavailable, "cannot reach Flame at %s within %v%s; %s", c.endpoint, timeout, reason, unavailableHint)
}

// Endpoint returns the endpoint given to Connect.
func (c *Connection) Endpoint() string { return c.endpoint }

// Close closes the connection. Calls in progress and pending futures fail.
func (c *Connection) Close() error { return c.cc.Close() }
