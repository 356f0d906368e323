package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/server/executor"
	"github.com/flmctl/flmctl/pkg/contexts"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// joinRun runs only an executor manager on this machine, as a node of the
// cluster whose Backend endpoint is opts.Join (spec §6.1).
func joinRun(ctx context.Context, opts *StartOptions) error {
	ep, err := contexts.ParseEndpoint(opts.Join)
	if err != nil || ep.Scheme == "unix" {
		return fmt.Errorf("--join %q: give the backend endpoint of the cluster, e.g. http://10.0.0.5:8081", opts.Join)
	}
	creds := insecure.NewCredentials()
	if ep.TLS {
		creds = credentials.NewTLS(&tls.Config{ServerName: ep.Host, MinVersion: tls.VersionTLS12})
	}
	cc, err := grpc.NewClient("passthrough:///"+ep.Address(),
		grpc.WithTransportCredentials(creds),
		// Long polls over a dead link must fail, so the node re-registers.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		return fmt.Errorf("--join %s: %w", opts.Join, err)
	}
	defer cc.Close()

	dir, err := resolveDataDir(opts.Factory, opts.DataDir)
	if err != nil {
		return err
	}
	work := filepath.Join(dir, "executors")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return fmt.Errorf("create the executors' directory: %w", err)
	}
	// Instances reach the cluster's frontend: --endpoint, else the port
	// below the backend's (upstream's convention).
	frontend := opts.Factory.Globals.Endpoint
	if frontend == "" {
		frontend = ep.Scheme + "://" + net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port-1))
	}
	// And its object cache: --cache-advertise, else port 9090 on the
	// backend's host (upstream's default).
	cacheEP := opts.CacheAdvertise
	if cacheEP == "" {
		cacheEP = "grpc://" + net.JoinHostPort(ep.Host, "9090")
	}
	if _, err := contexts.ParseCacheEndpoint(cacheEP); err != nil {
		return cmdutil.FlagErrorf("invalid --cache-advertise: %v", err)
	}
	level, _ := parseLevel(opts.LogLevel)
	node, err := executor.New(executor.Options{
		Backend:         executor.NewGRPCBackend(flamev1.NewBackendClient(cc)),
		WorkDir:         work,
		ClusterEndpoint: frontend,
		CacheEndpoint:   cacheEP,
		Logger:          slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level})),
		GRPCOnly:        opts.InstanceWire == instanceWireGRPC,
	})
	if err != nil {
		return err
	}
	if err := node.Start(); err != nil {
		return err
	}
	defer node.Stop()
	fmt.Fprintf(opts.IO.Out, "Node %s joined the cluster at %s (instances reach it at %s, its cache at %s)\n", node.NodeName(), opts.Join, frontend, cacheEP)
	fmt.Fprintln(opts.IO.ErrOut, "Press Ctrl-C to leave.")
	<-ctx.Done()
	return nil
}
