// Package builtin holds the services that flmctl serves itself (through
// `flmctl serve --builtin NAME`), so that the default applications work on a
// machine with nothing else installed:
//
//   - flmping: sleeps and allocates on request and reports where it ran
//     (upstream's flmping-service);
//   - flmexec: runs a shell or Python script and returns its standard output
//     (upstream's flmexec-service, behind flamepy's Sandbox);
//   - echo: returns each task's input unchanged, for tests and smoke checks.
//
// flmping and flmexec read and write upstream's JSON formats exactly, so
// upstream clients (the flmping CLI, flamepy's Sandbox) work against them.
package builtin
