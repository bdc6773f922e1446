package gateway

import (
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// sessionUsers remembers who each client session belongs to (the SDK binds
// a session to one user), for the management API's session list.
type sessionUsers struct {
	m     sync.Map // *mcp.ServerSession -> sessionUser
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
	if c.Session == nil || c.UserID == "" {
		return
	}
	if _, ok := s.m.Load(c.Session); ok {
		return
	}
	s.m.Store(c.Session, sessionUser{User: c.UserID, Issuer: c.Issuer, Groups: c.Groups})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n++; s.n < s.limit+64 {
		return
	}
	// Forget sessions that have ended; amortised over the stores since
	// the last prune.
	live := map[*mcp.ServerSession]bool{}
	for ss := range g.server.Sessions() {
		live[ss] = true
	}
	s.m.Range(func(k, _ any) bool {
		if !live[k.(*mcp.ServerSession)] {
			s.m.Delete(k)
		}
		return true
	})
	s.n, s.limit = 0, len(live)
}

func (s *sessionUsers) get(ss *mcp.ServerSession) (sessionUser, bool) {
	v, ok := s.m.Load(ss)
	if !ok {
		return sessionUser{}, false
	}
	return v.(sessionUser), true
}
