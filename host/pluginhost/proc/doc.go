// Package proc runs one plugin process: Start launches the executable as
// the leader of a process group under a go-plugin runner that bounds every
// wait on it (Runner), completes the handshake and GetInfo, and Stop ends
// it and what is left of its group. It also holds the ownership check of
// executables, the loggers and stderr tail that go-plugin writes a
// plugin's output to, and the readable errors of a failed start (Error)
// or call (CallError). Package pluginhost builds on it (configuring and
// supervising instances); nothing here knows plugin kinds or
// configuration.
package proc
