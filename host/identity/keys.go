package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/argusmcp/argus/host/config"
)

// maxDocBytes bounds a discovery document or JWKS.
const maxDocBytes = 1 << 20

// keySet caches one issuer's JWKS. Lookups read a snapshot without
// locking; a refetch is serialised by fetchMu, so concurrent tokens with
// a new key id cause one fetch.
type keySet struct {
	cfg    config.JWT
	client *http.Client
	now    func() time.Time

	snap    atomic.Pointer[keySnapshot]
	fetchMu sync.Mutex
	jwksURL string    // resolved; guarded by fetchMu
	tried   time.Time // last fetch attempt; guarded by fetchMu
}

type keySnapshot struct {
	keys    jose.JSONWebKeySet
	fetched time.Time
}

func newKeySet(cfg config.JWT, client *http.Client, now func() time.Time) *keySet {
	return &keySet{cfg: cfg, client: client, now: now, jwksURL: cfg.JWKSURL}
}

// lookup returns the keys with key id kid (every key when kid is ""),
// fetching the JWKS first if it was never fetched, is older than
// jwks_max_age, or lacks kid and was last fetched more than
// jwks_min_refresh ago. If a refetch fails, the keys cached before stay
// in use.
func (s *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys, ok := s.cached(kid, false); ok {
		return keys, nil
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	// Another caller may have fetched while this one waited.
	if keys, ok := s.cached(kid, false); ok {
		return keys, nil
	}
	if snap := s.snap.Load(); snap != nil && s.now().Sub(s.tried) < s.cfg.JWKSMinRefresh {
		// Fetched a moment ago and still no such key: rate limited.
		if keys, ok := s.cached(kid, true); ok {
			return keys, nil
		}
		return nil, invalid("unknown signing key %q", kid)
	}
	s.tried = s.now()
	set, err := s.fetch(ctx)
	if err != nil {
		if keys, ok := s.cached(kid, true); ok {
			return keys, nil // keep serving with the keys we have
		}
		return nil, invalid("cannot fetch the keys of issuer %q: %v", s.cfg.Issuer, err)
	}
	s.snap.Store(&keySnapshot{keys: *set, fetched: s.now()})
	if keys, ok := s.cached(kid, true); ok {
		return keys, nil
	}
	return nil, invalid("unknown signing key %q", kid)
}

// cached looks kid up in the snapshot; unless stale is true, a snapshot
// older than jwks_max_age counts as missing.
func (s *keySet) cached(kid string, stale bool) ([]jose.JSONWebKey, bool) {
	snap := s.snap.Load()
	if snap == nil || (!stale && s.now().Sub(snap.fetched) > s.cfg.JWKSMaxAge) {
		return nil, false
	}
	if kid == "" {
		return snap.keys.Keys, len(snap.keys.Keys) > 0
	}
	keys := snap.keys.Key(kid)
	return keys, len(keys) > 0
}

// fetch resolves the JWKS URL (once, by discovery when jwks_url is not
// set) and fetches the key set.
func (s *keySet) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	if s.jwksURL == "" {
		u, err := s.discover(ctx)
		if err != nil {
			return nil, err
		}
		s.jwksURL = u
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, s.client, s.jwksURL, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// discover reads jwks_uri from the issuer's OpenID Connect discovery
// document, or else its RFC 8414 authorization server metadata; the
// document's issuer must be the configured one.
func (s *keySet) discover(ctx context.Context) (string, error) {
	base := strings.TrimSuffix(s.cfg.Issuer, "/")
	var errs []string
	for _, u := range []string{base + "/.well-known/openid-configuration", base + "/.well-known/oauth-authorization-server"} {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, s.client, u, &doc); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if strings.TrimSuffix(doc.Issuer, "/") != base {
			return "", fmt.Errorf("%s names issuer %q, not %q", u, doc.Issuer, s.cfg.Issuer)
		}
		if doc.JWKSURI == "" {
			return "", fmt.Errorf("%s has no jwks_uri", u)
		}
		return doc.JWKSURI, nil
	}
	return "", fmt.Errorf("discovery failed: %s", strings.Join(errs, "; "))
}

func getJSON(ctx context.Context, c *http.Client, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocBytes {
		return fmt.Errorf("GET %s: larger than %d bytes", url, maxDocBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
