package server

import (
	"context"
	"fmt"
	"os"

	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// flmexec's schemas as upstream registers them (spec §4.3).
const (
	flmexecInputSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",` +
		`"properties":{"language":{"type":"string"},"code":{"type":"string"},"input":{"type":"array","items":{"type":"integer"}}},` +
		`"required":["language","code"]}`
	flmexecOutputSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`
)

// registerDefaultApps registers flmping, flmexec and flmrun unless they
// exist (spec §4.3, §18.25). flmping and flmexec are served by the flmctl
// binary itself; flmrun needs upstream's Python runner.
func (s *Server) registerDefaultApps(ctx context.Context) error {
	builtin := s.opts.BuiltinCommand
	if builtin == nil {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this executable for the built-in services: %w", err)
		}
		builtin = []string{exe, "serve", "--builtin"}
	}
	str := func(v string) *string { return &v }
	service := func(name string) (*string, []string) {
		args := append(append([]string(nil), builtin[1:]...), name)
		return str(builtin[0]), args
	}
	pingCmd, pingArgs := service("flmping")
	execCmd, execArgs := service("flmexec")
	apps := []struct {
		name string
		spec *flamev1.ApplicationSpec
	}{
		{"flmping", &flamev1.ApplicationSpec{
			Description: str("The Flame ping application, which checks that tasks run (served by flmctl)."),
			Command:     pingCmd, Arguments: pingArgs,
			Schema: &flamev1.ApplicationSchema{},
		}},
		{"flmexec", &flamev1.ApplicationSpec{
			Description: str("The Flame Executor application, which is used to run scripts."),
			Command:     execCmd, Arguments: execArgs,
			Schema: &flamev1.ApplicationSchema{Input: str(flmexecInputSchema), Output: str(flmexecOutputSchema)},
		}},
		{"flmrun", &flamev1.ApplicationSpec{
			Description: str("The Flame Runner application for executing customized Python applications."),
			Command:     str("${FLAME_HOME}/bin/uv"),
			Arguments:   []string{"run", "--python", "python${FLAME_PYTHON_VERSION}", "python", "-m", "flamepy.runner.runpy"},
			Installer:   str("python"),
			Schema:      &flamev1.ApplicationSchema{},
		}},
	}
	for _, a := range apps {
		if err := s.mgr.EnsureApplication(ctx, a.name, a.spec); err != nil {
			return err
		}
	}
	return nil
}
