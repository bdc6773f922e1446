// Package gctune sets the garbage collector's target percentage of the
// argus processes (DefaultPercent unless GOGC is set).
package gctune

import "runtime/debug"

// DefaultPercent is the garbage collector's target percentage for every
// argus process (`argus serve` and the built-in plugins it runs) when the
// GOGC environment variable is not set (Go's own default is 100).
//
// Why: a proxied call leaves ~0.2 MB of short-lived garbage in the host,
// nearly all of it the 32 KiB read buffer the MCP Go SDK's JSON decoder
// (segmentio/encoding) allocates for every message and params object it
// decodes, in the client-facing server and in the backend client alike.
// The live heap is a few MB, so at GOGC=100 a collection ran every few dozen
// calls and the collector took about a third of the host's CPU under load
// (README, Performance). At 400 collections are four times rarer and the
// host's CPU per proxied call drops by about 40% (measured: 470-540 µs
// against 780-910 µs at concurrency 16); the heap peaks at about five
// times the live heap instead of two, still a few tens of MB, and
// ReleaseWhenIdle returns the difference to the OS once the load ends.
// For a large live heap (many open sessions) Adapt lowers it (Headroom).
const DefaultPercent = 400

// Apply applies DefaultPercent unless GOGC is set (getenv returns it),
// which always wins, so an operator can go back to Go's default with
// GOGC=100. It returns the percentage in force afterwards.
func Apply(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(DefaultPercent)
	return DefaultPercent
}
