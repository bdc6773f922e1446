package request

import (
	"context"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Facts are what the transport that accepted a request knows about it and
// the MCP layer does not: who sent it, from where, over what, under which
// JSON-RPC id. The transport sets them (WithFacts), the gateway reads them
// into the request's Call (FactsOf), and nothing in between can change
// them: they never travel in anything a client sends.
//
// Identity beyond the user id (an OAuth issuer, groups, scopes) belongs
// here too, set by the authentication that learns it.
type Facts struct {
	// JSONRPCID is the client's JSON-RPC request id in its JSON form
	// (`7`, `"abc"`), or "" where the transport could not tell (a
	// notification, or a JSON-RPC batch).
	JSONRPCID string
	// ClientIP is the peer address, without port ("" on stdio).
	ClientIP string
	// UserID is the authenticated user ("" for anonymous clients).
	UserID string
	// Transport is TransportHTTP or TransportStdio.
	Transport string

	// A user authenticated by a JWT access token (host/identity): its
	// issuer, groups and scopes, every claim (for policy conditions), and
	// until when it is accepted (exp plus leeway). Empty for static tokens
	// and anonymous clients.
	Issuer string
	Groups []string
	Scopes []string
	Claims map[string]any
	Expiry time.Time
}

type factsKey struct{}

// WithFacts returns ctx carrying f, for the transport that accepted the
// request.
func WithFacts(ctx context.Context, f Facts) context.Context {
	return context.WithValue(ctx, factsKey{}, f)
}

// FactsFrom returns the facts WithFacts put in ctx.
func FactsFrom(ctx context.Context) (Facts, bool) {
	f, ok := ctx.Value(factsKey{}).(Facts)
	return f, ok
}

// tokenExtraKey names the facts in auth.TokenInfo.Extra. Only TokenInfo
// encodes them there; a client cannot send a TokenInfo.
const tokenExtraKey = "argus.request.facts"

// TokenInfo encodes f for the MCP layer. The SDK hands a request handler
// nothing of the HTTP request's context but the auth.TokenInfo there (as
// mcp.RequestExtra.TokenInfo, per message), so that is how the facts reach
// the gateway; FactsOf decodes them. UserID is also the SDK's own: it binds
// a session to the user who opened it. The expiration is a JWT's Expiry,
// else a day away: the facts are checked when they are made, and the SDK's
// own expiry check must agree with that.
func (f Facts) TokenInfo() *auth.TokenInfo {
	exp := f.Expiry
	if exp.IsZero() {
		exp = time.Now().Add(24 * time.Hour)
	}
	return &auth.TokenInfo{
		UserID:     f.UserID,
		Scopes:     f.Scopes,
		Expiration: exp,
		Extra:      map[string]any{tokenExtraKey: f},
	}
}

// FactsOf decodes the facts Facts.TokenInfo encoded into a request's
// extra; false if it carries none (a request that bypassed Argus's
// transports).
func FactsOf(extra *mcp.RequestExtra) (Facts, bool) {
	if extra == nil || extra.TokenInfo == nil {
		return Facts{}, false
	}
	f, ok := extra.TokenInfo.Extra[tokenExtraKey].(Facts)
	return f, ok
}
