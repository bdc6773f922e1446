package gateway

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// TestSessionUsersKeepNoSession: who a session belongs to is kept by its
// id; an ended session is not kept alive by its entry (which stays until
// the next prune), and sessions without an id are not kept at all.
func TestSessionUsersKeepNoSession(t *testing.T) {
	var users sessionUsers
	server := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := server.Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	users.note(nil, &request.Call{Session: ss, SessionID: "s-1", Facts: request.Facts{UserID: "alice", Issuer: "https://idp"}})
	users.note(nil, &request.Call{Session: ss, SessionID: "", Facts: request.Facts{UserID: "bob"}}) // no id: not kept
	n := 0
	users.m.Range(func(k, v any) bool {
		n++
		if k != "s-1" || v.(sessionUser).User != "alice" {
			t.Errorf("kept %v: %+v", k, v)
		}
		return true
	})
	if n != 1 {
		t.Errorf("kept %d entries, want 1", n)
	}
	gone := weak.Make(ss)
	cs.Close()
	ss.Wait()
	ss = nil
	for range 5 {
		runtime.GC()
		if gone.Value() == nil {
			return
		}
	}
	t.Error("an ended session is still reachable: its user entry keeps it alive")
}
