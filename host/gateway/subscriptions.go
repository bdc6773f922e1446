package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/relay"
	"github.com/argusmcp/argus/host/request"
)

// subscription is a URI's subscribers: the client sessions subscribed,
// and the link the shared subscription went through.
type subscription struct {
	uri      string
	link     *relay.Link
	sessions map[*mcp.ServerSession]bool
}

// subscribe routes resources/subscribe to the backend owning the URI. The
// SDK records which client sessions subscribed, and relayResourceUpdated
// hands backend updates to it. Argus records them too, per URI: a shared
// link is subscribed when the first client session subscribes and
// unsubscribed when the last one unsubscribes or has ended; a per-client
// link once for its session. A session that subscribes again changes
// nothing.
func (g *Gateway) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	l, err := g.resourceLink(ctx, req.Session, req.Params.URI)
	if err != nil {
		return err
	}
	uri := req.Params.URI
	g.subMu.Lock()
	stale := g.pruneSubs() // may hold uri's own: unsubscribed, then subscribed again below
	sub := g.subs[uri]
	if sub == nil {
		sub = &subscription{uri: uri, link: l, sessions: map[*mcp.ServerSession]bool{}}
		g.subs[uri] = sub
	}
	first, again := len(sub.sessions) == 0, sub.sessions[req.Session]
	sub.sessions[req.Session] = true
	g.subMu.Unlock()
	g.unsubscribeStale(ctx, stale)
	if again || (l.Owner() == nil && !first) {
		return nil
	}
	params := *req.Params // the backend's copy: its _meta may be limited
	limitTraceContext(&params, tracePropagation(g, l))
	if err := l.Conn().Session().Subscribe(ctx, &params); err != nil {
		g.subMu.Lock()
		delete(sub.sessions, req.Session)
		if len(sub.sessions) == 0 && g.subs[uri] == sub {
			delete(g.subs, uri)
		}
		g.subMu.Unlock()
		return request.Wire(err)
	}
	if l.Owner() != nil {
		l.Subscribed(+1)
	}
	return nil
}

// unsubscribe undoes a session's subscribe. A session that did not
// subscribe to the URI changes nothing: one client cannot end another's
// subscription.
func (g *Gateway) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	l, err := g.resourceLink(ctx, req.Session, req.Params.URI)
	if err != nil {
		return err
	}
	uri := req.Params.URI
	g.subMu.Lock()
	stale := g.pruneSubs()
	was, last := false, false
	if sub := g.subs[uri]; sub != nil {
		was = sub.sessions[req.Session]
		delete(sub.sessions, req.Session)
		if last = was && len(sub.sessions) == 0; last {
			delete(g.subs, uri)
		}
	}
	g.subMu.Unlock()
	g.unsubscribeStale(ctx, stale)
	if !was || (l.Owner() == nil && !last) {
		return nil
	}
	if l.Owner() != nil {
		l.Subscribed(-1)
	}
	params := *req.Params
	limitTraceContext(&params, tracePropagation(g, l))
	return request.Wire(l.Conn().Session().Unsubscribe(ctx, &params))
}

// tracePropagation is the trace_propagation in force for l's backend.
func tracePropagation(g *Gateway, l *relay.Link) string {
	cfg := l.Conn().Config()
	return g.TracePropagation(cfg.Name, cfg.TracePropagation)
}

// pruneSubs forgets the subscribers that have ended and returns the
// subscriptions none is left of, which unsubscribeStale ends. Called with
// subMu held.
func (g *Gateway) pruneSubs() (stale []*subscription) {
	live := map[*mcp.ServerSession]bool{}
	for s := range g.server.Sessions() {
		live[s] = true
	}
	for uri, sub := range g.subs {
		for s := range sub.sessions {
			if !live[s] {
				delete(sub.sessions, s)
			}
		}
		if len(sub.sessions) == 0 {
			delete(g.subs, uri)
			stale = append(stale, sub)
		}
	}
	return stale
}

// unsubscribeStale ends the shared subscriptions pruneSubs found no
// client session left for (a per-client link ends with its session).
func (g *Gateway) unsubscribeStale(ctx context.Context, subs []*subscription) {
	for _, sub := range subs {
		if c := sub.link.Conn(); c != nil && sub.link.Owner() == nil {
			_ = c.Session().Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: sub.uri})
		}
	}
}

func (g *Gateway) resourceLink(ctx context.Context, ss *mcp.ServerSession, uri string) (*relay.Link, error) {
	r, ok := g.catalog.Snapshot().Resource(uri)
	if !ok {
		return nil, resourceNotFound(uri).Wire
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

// resourceNotFound is the error for a URI no backend owns, saying why
// when the URI was too long to be matched against templates.
func resourceNotFound(uri string) *request.Error {
	msg := "resource not found"
	if len(uri) > catalog.MaxTemplateURI {
		msg = fmt.Sprintf("resource not found: a URI of %d bytes is matched only against the resources listed, not against templates (at most %d bytes)",
			len(uri), catalog.MaxTemplateURI)
	}
	e := request.Errorf(request.OutcomeNotFound, request.CodeResourceNotFound, "%s", msg)
	e.Wire.Data = mustJSON(map[string]string{"uri": uri})
	return e
}
