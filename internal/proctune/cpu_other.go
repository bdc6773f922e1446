//go:build !unix

package proctune

import "time"

// processCPU is not measured here: Adapt leaves GOMAXPROCS alone.
func processCPU() (time.Duration, bool) { return 0, false }
