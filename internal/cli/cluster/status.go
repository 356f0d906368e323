package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flmctl/flmctl/internal/cli/cmdutil"
	"github.com/flmctl/flmctl/internal/cli/iostreams"
	"github.com/flmctl/flmctl/pkg/client"
)

// StatusOptions are the inputs of "flmctl cluster status".
type StatusOptions struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	DataDir string
	Format  string
}

// NewCmdStatus returns "flmctl cluster status".
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the local cluster runs, and where",
		Long: `Show the process, endpoints and data directory of the cluster running with the
data directory, after checking that its frontend answers. Exits with 3 when
no cluster runs there.`,
		Example: `  flmctl cluster status
  flmctl cluster status --output json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Format, err = cmdutil.OutputFormat(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmdutil.EnableOutput(cmd, "", "json", "yaml")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "data `directory` of the cluster (default ~/.flame/cluster)")
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	dir, err := resolveDataDir(opts.Factory, opts.DataDir)
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil {
		return err
	}
	conn, err := client.Connect(ctx, st.Frontend, client.WithConnectTimeout(3*time.Second))
	if err != nil {
		return fmt.Errorf("the cluster process %d runs but its frontend does not answer: %w", st.PID, err)
	}
	defer conn.Close()
	if _, err := conn.ListApplications(ctx); err != nil {
		return fmt.Errorf("the cluster process %d runs but its frontend fails: %w", st.PID, err)
	}
	return printState(opts.IO.Out, opts.Format, st)
}
