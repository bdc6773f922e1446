package probe

import (
	"context"
	"errors"
	"testing"

	"github.com/argusmcp/argus/host/backend"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/shared/probehost"
)

// lookup is the gateway with one configured backend, "alpha", that has no
// session.
type lookup struct{}

func (lookup) BackendConn(name string) (*backend.Conn, config.Backend, bool) {
	if name != "alpha" {
		return nil, config.Backend{}, false
	}
	return nil, config.Backend{Name: "alpha", Type: config.TypeStdio, Command: "demo-server"}, true
}

// TestBackendsBeforeAndAfterBind: until the gateway is bound every backend
// is unknown; then configured backends are described, unknown ones are
// ErrUnknownBackend (NotFound to the probe) and one without a session
// cannot be pinged.
func TestBackendsBeforeAndAfterBind(t *testing.T) {
	ctx := context.Background()
	var b Backends
	if err := b.Ping(ctx, "alpha"); !errors.Is(err, probehost.ErrUnknownBackend) {
		t.Fatalf("Ping before Bind = %v", err)
	}
	b.Bind(lookup{})
	info, err := b.Describe(ctx, "alpha")
	if err != nil || info != (probehost.Backend{Name: "alpha", Transport: config.TypeStdio, Target: "demo-server"}) {
		t.Errorf("Describe(alpha) = %+v, %v", info, err)
	}
	if err := b.Ping(ctx, "alpha"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Ping(alpha) = %v, want ErrNotConnected", err)
	}
	if _, err := b.ListTools(ctx, "nope"); !errors.Is(err, probehost.ErrUnknownBackend) {
		t.Errorf("ListTools(nope) = %v, want ErrUnknownBackend", err)
	}
}
