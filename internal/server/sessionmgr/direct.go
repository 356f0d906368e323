package sessionmgr

import (
	"context"

	execmgr "github.com/flmctl/flmctl/internal/server/executor"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// Direct returns the in-process Backend for an executor manager running in
// the same process: every call is a method call on the manager, so launching
// and completing a task costs no RPC.
func (m *Manager) Direct() execmgr.Backend { return direct{m} }

type direct struct{ *Manager }

func (d direct) WatchNode(ctx context.Context, node string, status func() *flamev1.NodeStatus, deliver func(*flamev1.Executor)) error {
	return d.Manager.WatchNode(ctx, node, status, func(e *flamev1.Executor) error {
		deliver(e)
		return nil
	})
}
