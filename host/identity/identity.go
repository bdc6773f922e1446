// Package identity makes Argus an OAuth 2.1 resource server (MCP
// authorization, revisions 2025-06-18 and later): it validates JWT access
// tokens against the keys of the issuers the auth block trusts, serves the
// RFC 9728 protected resource metadata, and builds the WWW-Authenticate
// challenge that lets an MCP client discover the authorization server.
//
// A Verifier is built once per configuration and is safe for concurrent
// use. Each issuer's keys (JWKS) are fetched on first use, from jwks_url
// or the issuer's discovery document, cached, refetched when a token
// names a key id the cache lacks (at most once per jwks_min_refresh, so
// forged key ids cannot hammer the issuer) and after jwks_max_age: an
// issuer can rotate its keys without Argus restarting.
//
// JOSE itself (parsing, signature verification with an algorithm
// allow-list, claim validation with leeway) is github.com/go-jose/go-jose/v4.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/argusmcp/argus/host/config"
)

// Identity is who a request comes from.
type Identity struct {
	// UserID is the static token's user, or the JWT's user_claim.
	UserID string
	// Issuer is the JWT's iss ("" for static tokens).
	Issuer string
	// Provider names the jwt block that accepted the token.
	Provider string
	// Groups are the JWT's groups_claim values (nil for static tokens).
	Groups []string
	// Scopes are the token's scopes (scope or scp claim).
	Scopes []string
	// Claims are every claim of the JWT, for policy conditions (nil for
	// static tokens).
	Claims map[string]any
	// Expiry is until when the token is accepted: its exp plus the
	// issuer's leeway (zero: never, static tokens).
	Expiry time.Time
}

// InGroup reports whether the identity's groups include one of groups.
func (id *Identity) InGroup(groups ...string) bool {
	if id == nil {
		return false
	}
	for _, g := range groups {
		if slices.Contains(id.Groups, g) {
			return true
		}
	}
	return false
}

// OAuth error codes of RFC 6750 §3.1, carried by *Error.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// Error is a refused token: Code is the RFC 6750 error code for the
// challenge, Description what was wrong (safe to show the client).
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Description }

// Status is the HTTP status a refusal with this error gets.
func (e *Error) Status() int {
	switch e.Code {
	case CodeInsufficientScope:
		return http.StatusForbidden
	case CodeInvalidRequest:
		return http.StatusBadRequest
	}
	return http.StatusUnauthorized
}

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidToken, Description: fmt.Sprintf(format, args...)}
}

// Options tune a Verifier; the zero value is fine.
type Options struct {
	// HTTPClient fetches discovery documents and JWKS (default: a client
	// with a 10s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Verifier validates JWT access tokens for the issuers of one auth block.
type Verifier struct {
	issuers map[string]*issuer
	algs    []jose.SignatureAlgorithm // union over issuers, for parsing
	scopes  []string
	now     func() time.Time
}

type issuer struct {
	cfg  config.JWT
	algs []jose.SignatureAlgorithm
	keys *keySet
}

// New returns a Verifier for auth's jwt blocks, or nil when there are
// none. It fetches nothing yet.
func New(auth *config.Auth, o Options) *Verifier {
	if auth == nil || len(auth.JWT) == 0 {
		return nil
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &Verifier{issuers: map[string]*issuer{}, scopes: auth.Scopes, now: o.Now}
	for _, j := range auth.JWT {
		is := &issuer{cfg: j, keys: newKeySet(j, o.HTTPClient, o.Now)}
		for _, a := range j.Algorithms {
			is.algs = append(is.algs, jose.SignatureAlgorithm(a))
			if !slices.Contains(v.algs, jose.SignatureAlgorithm(a)) {
				v.algs = append(v.algs, jose.SignatureAlgorithm(a))
			}
		}
		v.issuers[j.Issuer] = is
	}
	return v
}

// LooksLikeJWT tells a compact JWS (three base64url parts) from an opaque
// static token.
func LooksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// Verify validates token and returns who it identifies. A refusal is an
// *Error. The checks: a compact JWS whose alg is on the issuer's
// allow-list ("none" and HMAC never are); iss names a configured issuer;
// the signature verifies with a key of that issuer's JWKS whose type fits
// the alg (a key embedded in the token is never used); aud contains one
// of the issuer's audiences (RFC 8707); exp is present and, with nbf and
// iat, holds within leeway; the user claim is a non-empty string; and the
// token carries every scope the auth block requires.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, invalid("malformed token or unaccepted algorithm")
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("a token must have exactly one signature")
	}
	hdr := tok.Headers[0]
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalid("malformed token claims")
	}
	is := v.issuers[unverified.Issuer]
	if is == nil {
		return nil, invalid("untrusted issuer %q", unverified.Issuer)
	}
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	if !slices.Contains(is.algs, alg) {
		return nil, invalid("algorithm %s is not accepted for issuer %q", hdr.Algorithm, is.cfg.Issuer)
	}
	keys, err := is.keys.lookup(ctx, hdr.KeyID)
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var all map[string]any
	verified := false
	for _, k := range keys {
		if k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != hdr.Algorithm) || !k.IsPublic() {
			continue
		}
		if tok.Claims(k.Key, &std, &all) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, invalid("signature does not verify with the issuer's keys")
	}
	if std.Expiry == nil {
		return nil, invalid("token has no exp claim")
	}
	exp := jwt.Expected{Issuer: is.cfg.Issuer, AnyAudience: is.cfg.Audiences, Time: v.now()}
	if err := std.ValidateWithLeeway(exp, is.cfg.Leeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrExpired):
			return nil, invalid("token expired")
		case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
			return nil, invalid("token not valid yet")
		case errors.Is(err, jwt.ErrInvalidAudience):
			return nil, invalid("token was not issued for this resource (audience)")
		}
		return nil, invalid("invalid claims: %v", err)
	}
	user, _ := all[is.cfg.UserClaim].(string)
	if user == "" {
		return nil, invalid("token has no %s claim naming the user", is.cfg.UserClaim)
	}
	id := &Identity{UserID: user, Issuer: is.cfg.Issuer, Provider: is.cfg.Name, Claims: all,
		Groups: stringList(all[is.cfg.GroupsClaim]), Scopes: scopes(all), Expiry: std.Expiry.Time().Add(is.cfg.Leeway)}
	for _, s := range v.scopes {
		if !slices.Contains(id.Scopes, s) {
			return nil, &Error{Code: CodeInsufficientScope, Description: fmt.Sprintf("token lacks scope %q", s)}
		}
	}
	return id, nil
}

// scopes reads the scope claim (RFC 8693: one space-separated string) or
// scp (a list, as some issuers write it).
func scopes(claims map[string]any) []string {
	if s, ok := claims["scope"].(string); ok {
		return strings.Fields(s)
	}
	return stringList(claims["scp"])
}

// stringList reads a claim that is a list of strings or one
// space-separated string.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Admin returns a check that admits a JWT whose groups include one of
// auth's admin_groups, for the management API, and says whose it is; nil
// when no group is configured (or no jwt block).
func Admin(auth *config.Auth) func(ctx context.Context, token string) (Identity, bool) {
	v := New(auth, Options{})
	if v == nil || len(auth.AdminGroups) == 0 {
		return nil
	}
	return func(ctx context.Context, token string) (Identity, bool) {
		if !LooksLikeJWT(token) {
			return Identity{}, false
		}
		id, err := v.Verify(ctx, token)
		if err != nil || !id.InGroup(auth.AdminGroups...) {
			return Identity{}, false
		}
		return *id, true
	}
}
