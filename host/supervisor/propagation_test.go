package supervisor

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/relay"
)

// TestTracePropagationOfARemovedBackend: a call still under way to a
// backend a reload removed is held to that backend's own setting (the
// fallback its connection gives), never to more than it was allowed; a
// running backend's is the one in force.
func TestTracePropagationOfARemovedBackend(t *testing.T) {
	b := config.Backend{Name: "p", Type: config.TypeStdio, Command: "x", TracePropagation: config.PropagateTrace}
	sv := New(&config.Config{Backends: []config.Backend{b}}, hclog.NewNullLogger(), Options{Relay: relay.Env{Log: hclog.NewNullLogger()}})
	defer sv.cancel()
	if got := sv.TracePropagation("p", config.PropagateNone); got != config.PropagateNone {
		t.Errorf("a backend not running: %q, want the fallback %q", got, config.PropagateNone)
	}
	sv.mu.Lock()
	sv.backends["p"] = sv.newLiveBackendLocked(b)
	sv.mu.Unlock()
	if got := sv.TracePropagation("p", config.PropagateNone); got != config.PropagateTrace {
		t.Errorf("a running backend: %q, want its own %q", got, config.PropagateTrace)
	}
	none := config.PropagateNone
	sv.backends["p"].propagation.Store(&none) // as a reload does
	if got := sv.TracePropagation("p", config.PropagateAll); got != config.PropagateNone {
		t.Errorf("after a reload: %q, want %q", got, config.PropagateNone)
	}
}
