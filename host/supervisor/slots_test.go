package supervisor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/relay"
)

// fullBackend is a per-client backend whose max_clients (2) slots are
// taken by two sessions' links.
func fullBackend(t *testing.T) (*Supervisor, *liveBackend, [2]*mcp.ServerSession, [2]*clientLink) {
	t.Helper()
	b := config.Backend{Name: "p", Type: config.TypeStdio, Command: "x", SessionMode: config.SessionPerClient, MaxClients: 2}
	sv := New(&config.Config{Backends: []config.Backend{b}}, hclog.NewNullLogger(), Options{Relay: relay.Env{Log: hclog.NewNullLogger()}})
	t.Cleanup(sv.cancel)
	lb := sv.newLiveBackendLocked(b)
	var ss [2]*mcp.ServerSession
	var cl [2]*clientLink
	for i := range ss {
		ss[i], cl[i] = new(mcp.ServerSession), &clientLink{ready: make(chan struct{})}
		lb.clients[ss[i]] = cl[i]
	}
	return sv, lb, ss, cl
}

// await runs awaitSlot for a new session in the background.
func await(lb *liveBackend, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		lb.clientMu.Lock()
		err := lb.awaitSlot(ctx, new(mcp.ServerSession), 2)
		lb.clientMu.Unlock()
		done <- err
	}()
	return done
}

func waiting(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("a call got past a full backend: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func woken(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(slotWait / 2):
		t.Fatalf("%s did not wake the waiting call", what)
	}
}

// TestSlotsWaitAndWake: a call beyond max_clients waits; a link whose
// dial failed frees its slot at once; a link being closed keeps its slot
// (counted as closing, once however often it is retired) until it is
// closed, and the slot frees then; the count of closing links returns
// to zero.
func TestSlotsWaitAndWake(t *testing.T) {
	_, lb, ss, cl := fullBackend(t)

	done := await(lb, context.Background())
	waiting(t, done)
	lb.clientMu.Lock()
	lb.dropClient(ss[0], cl[0]) // its dial failed
	lb.clientMu.Unlock()
	woken(t, done, "a failed dial")

	lb.clientMu.Lock()
	lb.clients[ss[0]] = cl[0] // full again
	lb.clientMu.Unlock()
	done = await(lb, context.Background())
	waiting(t, done)
	lb.clientMu.Lock()
	lb.retire(ss[1], cl[1]) // idle: reaped
	lb.retire(ss[1], cl[1]) // and its goroutine's end
	if _, there := lb.clients[ss[1]]; there || lb.closing != 1 {
		t.Fatalf("retired link: still listed %v, closing %d, want 1", there, lb.closing)
	}
	lb.clientMu.Unlock()
	waiting(t, done) // still closing: the slot is not free
	lb.released()
	woken(t, done, "a closed link")
	if lb.closing != 0 {
		t.Errorf("closing %d after the link closed, want 0", lb.closing)
	}
}

// TestSlotsGiveUp: a call that finds no slot within slotWait gets
// errNoSlot (Link answers it with the max_clients error); one whose context ends, that context's error; one
// whose backend is removed, an error saying it is not running. A session
// that already has a link does not wait.
func TestSlotsGiveUp(t *testing.T) {
	_, lb, ss, _ := fullBackend(t)
	start := time.Now()
	err := <-await(lb, context.Background())
	if err != errNoSlot || time.Since(start) < slotWait {
		t.Errorf("after %v: %v, want no slot after %v", time.Since(start), err, slotWait)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := await(lb, ctx)
	waiting(t, done)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	lb.clientMu.Lock()
	if err := lb.awaitSlot(context.Background(), ss[0], 2); err != nil {
		t.Errorf("a session with a link of its own waited: %v", err)
	}
	lb.clientMu.Unlock()
	done = await(lb, context.Background())
	waiting(t, done)
	lb.cancel() // removed
	if err := <-done; err == nil || err == errNoSlot {
		t.Errorf("removed backend: %v, want not running", err)
	}
}
