package gateway

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/relay"
	"github.com/argusmcp/argus/host/request"
)

// subscribe routes resources/subscribe to the backend owning the URI. The
// SDK records which client sessions subscribed, and relayResourceUpdated
// hands backend updates to it; a shared link is subscribed once per URI,
// however many clients subscribe.
func (g *Gateway) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	l, err := g.resourceLink(ctx, req.Session, req.Params.URI)
	if err != nil {
		return err
	}
	if l.Owner() == nil {
		g.subMu.Lock()
		n := g.subs[req.Params.URI]
		g.subs[req.Params.URI] = n + 1
		g.subMu.Unlock()
		if n > 0 {
			return nil
		}
	}
	if err := l.Conn().Session().Subscribe(ctx, req.Params); err != nil {
		if l.Owner() == nil {
			g.subMu.Lock()
			g.subs[req.Params.URI]--
			g.subMu.Unlock()
		}
		return request.Wire(err)
	}
	if l.Owner() != nil {
		l.Subscribed(+1)
	}
	return nil
}

func (g *Gateway) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	l, err := g.resourceLink(ctx, req.Session, req.Params.URI)
	if err != nil {
		return err
	}
	if l.Owner() == nil {
		g.subMu.Lock()
		n := g.subs[req.Params.URI]
		if n > 1 {
			g.subs[req.Params.URI] = n - 1
			g.subMu.Unlock()
			return nil
		}
		delete(g.subs, req.Params.URI)
		g.subMu.Unlock()
	} else {
		l.Subscribed(-1)
	}
	return request.Wire(l.Conn().Session().Unsubscribe(ctx, req.Params))
}

func (g *Gateway) resourceLink(ctx context.Context, ss *mcp.ServerSession, uri string) (*relay.Link, error) {
	r, ok := g.catalog.Snapshot().Resource(uri)
	if !ok {
		return nil, request.Errorf(request.OutcomeNotFound, request.CodeResourceNotFound, "resource not found").Wire
	}
	l, err := g.Link(ctx, ss, r.Backend)
	if err != nil {
		var limit *request.Error
		if errors.As(err, &limit) {
			return nil, limit.Wire
		}
		return nil, request.Errorf(request.OutcomeTransport, request.CodeBackendUnavailable, "%v", err).Wire
	}
	return l, nil
}

// rootsListChanged tells the backends serving a client that its roots
// changed: its per-client links, and every shared link (any of their
// clients may be the one whose roots they ask for).
func (g *Gateway) rootsListChanged(ctx context.Context, req *mcp.RootsListChangedRequest) {
	for _, l := range g.Links() {
		if l.Owner() == nil || l.Owner() == req.Session {
			l.NotifyRootsChanged(ctx)
		}
	}
}

// levels orders MCP log levels from most to least verbose.
var levels = map[mcp.LoggingLevel]int{
	"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7,
}

// setClientLevel records a client's logging/setLevel and sets every
// backend's level to the most verbose level any of its clients asked for;
// the SDK then filters what each client receives by that client's level.
func (g *Gateway) setClientLevel(ctx context.Context, ss *mcp.ServerSession, level mcp.LoggingLevel) {
	live := map[*mcp.ServerSession]bool{}
	for s := range g.server.Sessions() {
		live[s] = true
	}
	g.subMu.Lock()
	g.levels[ss] = level
	most := mcp.LoggingLevel("")
	for s, lvl := range g.levels {
		if !live[s] && s != ss {
			delete(g.levels, s) // the session has ended
			continue
		}
		if most == "" || levels[lvl] < levels[most] {
			most = lvl
		}
	}
	g.subMu.Unlock()
	for _, l := range g.Links() {
		lvl := most
		if l.Owner() != nil {
			if l.Owner() != ss {
				continue
			}
			lvl = level
		}
		l.SetLevel(ctx, lvl)
	}
}
