package gateway

import (
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// sessionUsers remembers who each client session belongs to (the SDK binds
// a session to one user), for the management API's session list. Entries
// are keyed by session id, not by the session: an ended session's entry
// stays until the next prune, and keyed by the session it kept the
// session's whole graph (its initialize request, context, headers) alive
// with it, 4-20 KB each, after a spike of sessions for as long as no new
// ones came (a soak probe: 8.5 MB of live heap for 2,000 ended sessions).
// Sessions without an id (the stateless revision's, one per request;
// stdio's) are not listed, and not kept.
type sessionUsers struct {
	m     sync.Map // session id -> sessionUser
	mu    sync.Mutex
	n     int // entries stored since the last prune
	limit int
}

type sessionUser struct {
	User   string
	Issuer string
	Groups []string
}

// note records c's user for its session, once per session.
func (s *sessionUsers) note(g *Gateway, c *request.Call) {
	if c.Session == nil || c.UserID == "" || c.SessionID == "" {
		return
	}
	if _, ok := s.m.Load(c.SessionID); ok {
		return
	}
	s.m.Store(c.SessionID, sessionUser{User: c.UserID, Issuer: c.Issuer, Groups: c.Groups})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n++; s.n < s.limit+64 {
		return
	}
	// Forget sessions that have ended; amortised over the stores since
	// the last prune.
	live := map[string]bool{}
	for ss := range g.server.Sessions() {
		live[ss.ID()] = true
	}
	s.m.Range(func(k, _ any) bool {
		if !live[k.(string)] {
			s.m.Delete(k)
		}
		return true
	})
	s.n, s.limit = 0, len(live)
}

func (s *sessionUsers) get(ss *mcp.ServerSession) (sessionUser, bool) {
	v, ok := s.m.Load(ss.ID())
	if !ok {
		return sessionUser{}, false
	}
	return v.(sessionUser), true
}
