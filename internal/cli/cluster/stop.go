package cluster

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
)

// StopOptions are the inputs of "flmctl cluster stop".
type StopOptions struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	DataDir string
	Timeout time.Duration
}

// NewCmdStop returns "flmctl cluster stop".
func NewCmdStop(f *cmdutil.Factory, runF func(context.Context, *StopOptions) error) *cobra.Command {
	opts := &StopOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the cluster started with --detach",
		Long: `Stop the cluster running with the data directory: it gets SIGTERM, stops its
instances and closes its store. If it has not exited after --timeout it is
killed.`,
		Example: `  flmctl cluster stop
  flmctl cluster stop --data-dir /tmp/flame`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return stopRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "data `directory` of the cluster (default ~/.flame/cluster)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a clean stop before killing it")
	return cmd
}

func stopRun(ctx context.Context, opts *StopOptions) error {
	dir, err := resolveDataDir(opts.Factory, opts.DataDir)
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil {
		return err
	}
	if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop the cluster (pid %d): %w", st.PID, err)
	}
	deadline := time.Now().Add(opts.Timeout)
	for wait := time.Millisecond; alive(st.PID); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
			fmt.Fprintf(opts.IO.ErrOut, "The cluster (pid %d) did not stop within %s and was killed.\n", st.PID, opts.Timeout)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "Stopped the cluster (pid %d).\n", st.PID)
	return nil
}
