// Package startup gives the verdict of a gateway's start-up, which runs in
// the background while the listener already serves: whether the
// configuration proved unservable once every plugin and every backend has
// started once.
package startup

import (
	"errors"

	"github.com/hashicorp/hcl/v2"

	"github.com/argusmcp/argus/host/catalog"
)

// Backends is the backends' start-up; *gateway.Gateway implements it.
type Backends interface {
	// StartupDone is closed once every backend has connected or failed
	// once.
	StartupDone() <-chan struct{}
	// StartupErr is what makes the backends unservable, nil if nothing.
	StartupErr() error
}

// ErrPluginConfig is the verdict when a plugin instance rejected its
// configuration at its first start; the diagnostics say why.
var ErrPluginConfig = errors.New("plugin configuration has errors")

// Watch waits, in the background, first for the plugins' first start
// (their configuration diagnostics, as pluginhost.LaunchConfig sends
// them) and then for the backends', and sends one verdict: nil,
// ErrPluginConfig, or the backends' start-up error (a
// *catalog.ConflictError for capabilities that conflict under the "error"
// strategy). Plugin diagnostics, warnings included, go to report first.
func Watch(plugins <-chan hcl.Diagnostics, backends Backends, report func(hcl.Diagnostics)) <-chan error {
	out := make(chan error, 1)
	go func() {
		if diags := <-plugins; len(diags) > 0 {
			report(diags)
			if diags.HasErrors() {
				out <- ErrPluginConfig
				return
			}
		}
		<-backends.StartupDone()
		out <- backends.StartupErr()
	}()
	return out
}

// ConfigFault reports whether err, a verdict of Watch, is the
// configuration's fault (the user's to fix) rather than Argus's.
func ConfigFault(err error) bool {
	var ce *catalog.ConflictError
	return errors.Is(err, ErrPluginConfig) || errors.As(err, &ce)
}
