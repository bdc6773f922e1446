package gateway_test

import (
	"testing"

	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/transport"
)

// TestLeanMethodsAgree: the transport hands the gateway exactly the
// methods ServeLean can serve (a method only one side lists would never
// be served lean, or be handed over only to go the SDK's way).
func TestLeanMethodsAgree(t *testing.T) {
	got := gateway.LeanRequestMethods()
	for _, m := range got {
		if !transport.LeanMethods[m] {
			t.Errorf("ServeLean serves %s, which transport.LeanMethods does not list", m)
		}
	}
	if len(got) != len(transport.LeanMethods) {
		t.Errorf("ServeLean serves %v; transport.LeanMethods lists %v", got, transport.LeanMethods)
	}
}
