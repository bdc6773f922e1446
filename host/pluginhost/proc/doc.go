// Package proc is the operating-system side of running a plugin: the
// go-plugin runner that starts its process as the leader of a process
// group and bounds every wait on it (Runner), stopping what is left of
// the group, the ownership check of executables, and the loggers and
// stderr tail that go-plugin writes a plugin's output to. Package
// pluginhost builds on it; nothing here knows plugin kinds or
// configuration.
package proc
