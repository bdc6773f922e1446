package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/argusmcp/argus/host/config"
)

const resource = "http://127.0.0.1:9000/mcp"

// idp is a fake authorization server: discovery and a JWKS whose keys the
// test changes.
type idp struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey // public
	fetches atomic.Int64
}

func newIDP(t *testing.T) *idp {
	p := &idp{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL + "/", "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) issuer() string { return p.srv.URL + "/" }

// publish makes key (by its public half) the JWKS's only key, or adds it.
func (p *idp) publish(k signingKey, replace bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pub := jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
	if replace {
		p.keys = nil
	}
	p.keys = append(p.keys, pub)
}

type signingKey struct {
	kid     string
	alg     jose.SignatureAlgorithm
	private any
	public  any
}

func rsaKey(t *testing.T, kid string) signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.RS256, private: k, public: &k.PublicKey}
}

func ecKey(t *testing.T, kid string) signingKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.ES256, private: k, public: &k.PublicKey}
}

func sign(t *testing.T, k signingKey, claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claims(iss string, mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": iss, "sub": "svc-alice", "aud": []string{resource},
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"groups": []string{"sre", "dev"}, "scope": "mcp openid", "tenant": "acme"}
	if mod != nil {
		mod(c)
	}
	return c
}

func verifier(issuers ...string) *Verifier {
	a := &config.Auth{Resource: resource}
	for i, iss := range issuers {
		a.JWT = append(a.JWT, config.JWT{Name: "idp" + string(rune('a'+i)), Issuer: iss, Audiences: []string{resource},
			UserClaim: config.DefaultUserClaim, GroupsClaim: config.DefaultGroupsClaim, Leeway: 30 * time.Second,
			Algorithms: config.DefaultJWTAlgorithms, JWKSMinRefresh: time.Hour, JWKSMaxAge: time.Hour})
	}
	return New(a, Options{})
}

func TestVerifyAcceptsAValidToken(t *testing.T) {
	p := newIDP(t)
	k := rsaKey(t, "k1")
	p.publish(k, true)
	v := verifier(p.issuer())
	id, err := v.Verify(context.Background(), sign(t, k, claims(p.issuer(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != "svc-alice" || id.Issuer != p.issuer() || strings.Join(id.Groups, ",") != "sre,dev" ||
		strings.Join(id.Scopes, ",") != "mcp,openid" || id.Claims["tenant"] != "acme" || id.Provider != "idpa" {
		t.Errorf("identity = %+v", id)
	}
	// An EC key works the same way, and the keys stay cached.
	ek := ecKey(t, "k2")
	p.publish(ek, false)
	v = verifier(p.issuer())
	if _, err := v.Verify(context.Background(), sign(t, ek, claims(p.issuer(), nil))); err != nil {
		t.Fatal(err)
	}
	before := p.fetches.Load()
	for range 5 {
		if _, err := v.Verify(context.Background(), sign(t, ek, claims(p.issuer(), nil))); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.fetches.Load() - before; n != 0 {
		t.Errorf("%d JWKS fetches for known keys; want 0 (cached)", n)
	}
}

func TestVerifyRefuses(t *testing.T) {
	p := newIDP(t)
	k := rsaKey(t, "k1")
	p.publish(k, true)
	other := newIDP(t) // a second authorization server with keys of its own
	ok := rsaKey(t, "k1")
	other.publish(ok, true)
	v := verifier(p.issuer(), other.issuer())
	iss := p.issuer()
	good := sign(t, k, claims(iss, nil))
	parts := strings.Split(good, ".")

	// alg none: header {"alg":"none"}, no signature.
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	// Key-type confusion: HS256 "signed" with the RSA public key's bytes.
	der, _ := x509.MarshalPKIXPublicKey(k.public)
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: der}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	hsTok, _ := jwt.Signed(hs).Claims(claims(iss, nil)).Serialize()
	// A token that embeds its own key in the header, signed by that key.
	rogue := rsaKey(t, "k1")
	emb, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rogue.private}, (&jose.SignerOptions{EmbedJWK: true}))
	embTok, _ := jwt.Signed(emb).Claims(claims(iss, nil)).Serialize()
	// Tampered: claims changed after signing.
	var c map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &c)
	c["sub"] = "admin"
	nb, _ := json.Marshal(c)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(nb) + "." + parts[2]

	cases := map[string]struct {
		token string
		want  string
	}{
		"wrong audience":            {sign(t, k, claims(iss, func(c map[string]any) { c["aud"] = "http://elsewhere/mcp" })), "audience"},
		"wrong issuer":              {sign(t, k, claims("https://evil.example/", nil)), "untrusted issuer"},
		"expired":                   {sign(t, k, claims(iss, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), "expired"},
		"not yet valid":             {sign(t, k, claims(iss, func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), "not valid yet"},
		"no exp":                    {sign(t, k, claims(iss, func(c map[string]any) { delete(c, "exp") })), "no exp"},
		"no user":                   {sign(t, k, claims(iss, func(c map[string]any) { delete(c, "sub") })), "no sub claim"},
		"tampered":                  {tampered, "signature"},
		"alg none":                  {noneHeader + "." + parts[1] + ".", "malformed token or unaccepted algorithm"},
		"HS256 with the public key": {hsTok, "malformed token or unaccepted algorithm"},
		"embedded key":              {embTok, "signature"},
		// Signed by the second server's key but claiming the first issuer.
		"other server's key": {sign(t, ok, claims(iss, nil)), "signature"},
		"garbage":            {"not-a-jwt", "malformed"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidToken || !strings.Contains(e.Description, tc.want) {
				t.Fatalf("Verify = %v; want invalid_token containing %q", err, tc.want)
			}
			if e.Status() != http.StatusUnauthorized {
				t.Errorf("status %d", e.Status())
			}
		})
	}
	// The second issuer's own tokens are fine.
	if _, err := v.Verify(context.Background(), sign(t, ok, claims(other.issuer(), nil))); err != nil {
		t.Errorf("second issuer: %v", err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	p := newIDP(t)
	k := rsaKey(t, "k1")
	p.publish(k, true)
	v := verifier(p.issuer())
	// Expired 10s ago: inside the 30s leeway.
	tok := sign(t, k, claims(p.issuer(), func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("within leeway: %v", err)
	}
}

func TestKeyRotationAndRefetchLimit(t *testing.T) {
	p := newIDP(t)
	k1 := rsaKey(t, "k1")
	p.publish(k1, true)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	a := &config.Auth{JWT: []config.JWT{{Name: "idp", Issuer: p.issuer(), Audiences: []string{resource},
		UserClaim: "sub", Leeway: time.Hour, Algorithms: []string{"RS256"},
		JWKSMinRefresh: 10 * time.Second, JWKSMaxAge: time.Hour}}}
	v := New(a, Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, k1, claims(p.issuer(), nil))); err != nil {
		t.Fatal(err)
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	// The issuer rotates to k2. Right after the last fetch, an unknown kid
	// does not refetch (rate limit): a flood of forged kids costs nothing.
	k2 := rsaKey(t, "k2")
	p.publish(k2, true)
	for range 20 {
		if _, err := v.Verify(ctx, sign(t, k2, claims(p.issuer(), nil))); err == nil || !strings.Contains(err.Error(), "unknown signing key") {
			t.Fatalf("Verify = %v; want unknown signing key", err)
		}
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d after unknown kids within jwks_min_refresh; want 1", n)
	}
	// Once jwks_min_refresh has passed, the new key is fetched and accepted.
	clock.Add(int64(11 * time.Second))
	if _, err := v.Verify(ctx, sign(t, k2, claims(p.issuer(), nil))); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// k1 is gone from the JWKS: its tokens are refused now.
	if _, err := v.Verify(ctx, sign(t, k1, claims(p.issuer(), nil))); err == nil {
		t.Fatal("a token of the retired key was accepted")
	}
}

func TestScopes(t *testing.T) {
	p := newIDP(t)
	k := rsaKey(t, "k1")
	p.publish(k, true)
	a := &config.Auth{Scopes: []string{"mcp"}, JWT: []config.JWT{{Name: "idp", Issuer: p.issuer(), Audiences: []string{resource},
		UserClaim: "sub", GroupsClaim: "groups", Algorithms: []string{"RS256"}, JWKSMaxAge: time.Hour}}}
	v := New(a, Options{})
	_, err := v.Verify(context.Background(), sign(t, k, claims(p.issuer(), func(c map[string]any) { c["scope"] = "openid" })))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInsufficientScope || e.Status() != http.StatusForbidden {
		t.Fatalf("Verify = %v; want insufficient_scope", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, k, claims(p.issuer(), func(c map[string]any) { delete(c, "scope"); c["scp"] = []string{"mcp"} }))); err != nil {
		t.Fatal(err)
	}
}

func TestMetadataAndChallenge(t *testing.T) {
	a := &config.Auth{Scopes: []string{"mcp"}, JWT: []config.JWT{{Issuer: "https://idp.example/"}}}
	r := httptest.NewRequest("POST", "http://argus.local:9000/mcp", nil)
	if got, want := MetadataURL(Resource(a, r)), "http://argus.local:9000/.well-known/oauth-protected-resource/mcp"; got != want {
		t.Errorf("MetadataURL = %q, want %q", got, want)
	}
	got := Challenge(a, r, invalid("token \"expired\"\n"))
	want := `Bearer realm="argus", resource_metadata="http://argus.local:9000/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="token 'expired''", scope="mcp"`
	if got != want {
		t.Errorf("Challenge =\n%s\nwant\n%s", got, want)
	}
	// No token presented: no error code (RFC 6750 §3.1).
	if got := Challenge(a, r, errors.New("missing bearer token")); strings.Contains(got, "error=") {
		t.Errorf("Challenge without token = %s", got)
	}
	a.Resource = "https://argus.example.com/mcp"
	for _, path := range []string{MetadataPath, MetadataPath + "/mcp"} {
		w := httptest.NewRecorder()
		MetadataHandler(a).ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if m["resource"] != a.Resource || m["authorization_servers"].([]any)[0] != "https://idp.example/" {
			t.Errorf("%s: %v", path, m)
		}
	}
}

func TestAdmin(t *testing.T) {
	p := newIDP(t)
	k := rsaKey(t, "k1")
	p.publish(k, true)
	a := &config.Auth{AdminGroups: []string{"argus-admins"}, JWT: []config.JWT{{Name: "idp", Issuer: p.issuer(), Audiences: []string{resource},
		UserClaim: "sub", GroupsClaim: "groups", Algorithms: []string{"RS256"}, JWKSMaxAge: time.Hour}}}
	admin := Admin(a)
	ctx := context.Background()
	// Admitted, with who it is (the management API's audit records it).
	if id, ok := admin(ctx, sign(t, k, claims(p.issuer(), func(c map[string]any) { c["groups"] = []string{"dev", "argus-admins"} }))); !ok {
		t.Error("a member of argus-admins was refused")
	} else if id.UserID != "svc-alice" || id.Issuer != p.issuer() || !slices.Equal(id.Groups, []string{"dev", "argus-admins"}) {
		t.Errorf("admin identity %+v", id)
	}
	if _, ok := admin(ctx, sign(t, k, claims(p.issuer(), nil))); ok {
		t.Error("a token without the admin group was admitted")
	}
	if _, ok := admin(ctx, "static-token-0123456789"); ok {
		t.Error("an opaque token was admitted")
	}
	if Admin(&config.Auth{JWT: a.JWT}) != nil {
		t.Error("no admin_groups: want no check")
	}
}
