package gateway_test

// End-to-end tests of Argus as an OAuth 2.1 resource server against a real
// authorization server: Ory Hydra (internal/hydratest, built from
// test/hydra).

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/hydratest"
	"github.com/argusmcp/argus/internal/testbin"
)

// headerBackend is an MCP server over streamable HTTP that records every
// Authorization header it receives.
type headerBackend struct {
	mu   sync.Mutex
	seen []string
	url  string
}

func startHeaderBackend(t *testing.T) *headerBackend {
	b := &headerBackend{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "headers", Version: "test"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Values("Authorization")...)
		b.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	b.url = hs.URL
	return b
}

func (b *headerBackend) authorizations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.seen)
}

// postInit sends an initialize request with the given Authorization value
// ("" for none) and returns the status and WWW-Authenticate header.
func postInit(t *testing.T, url, authz string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// jwtParts splits a compact JWT and decodes its payload.
func jwtParts(t *testing.T, token string) ([]string, map[string]any) {
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(b, &claims) != nil {
		t.Fatalf("payload of %q: %v", token, err)
	}
	return parts, claims
}

// TestE2EOAuthHydra: Argus validates JWT access tokens issued by Ory Hydra.
// A client-credentials token with the right audience calls a tool and the
// audit record names its subject and issuer; wrong audience, wrong
// issuer, expired, tampered, alg none and a token of a second Hydra
// claiming the first one's issuer each get 401 with a Bearer challenge
// pointing at the protected resource metadata; after Hydra rotates its
// keys, new tokens are accepted without a restart; the backend never sees
// the client's token.
func TestE2EOAuthHydra(t *testing.T) {
	idp := hydratest.Start(t, hydratest.Options{})
	rogue := hydratest.Start(t, hydratest.Options{Issuer: idp.Issuer()})
	backend := startHeaderBackend(t)

	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	resource := "http://" + addr + "/mcp"
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	url, _ := startArgus(t, fmt.Sprintf(`
server { listen = %q }
log { level = "warn" }
auth {
  admin_groups = ["argus-admins"]
  jwt "hydra" {
    issuer           = %q
    audiences        = [%q]
    leeway           = "1s"
    jwks_min_refresh = "1s"
  }
}
audit {
  sink "jsonl" "primary" {
    file  = %q
    fsync = "always"
  }
}
backend "hdr" {
  type    = "streamable-http"
  url     = %q
  headers = { Authorization = "Bearer backend-own-credential" }
}
`, addr, idp.Issuer(), resource, auditFile, backend.url+"/mcp"))

	client := idp.CreateClient(t, resource, "http://elsewhere.example/mcp")
	idp.SetGroups(client.ID, []string{"argus-admins", "dev"})
	token := idp.Token(t, client, resource)

	// The right token: a tool call succeeds and is audited with its subject.
	s := connectWithToken(t, url, token)
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "hdr_whoami"})
	if err != nil || text(t, res) != "ok" {
		t.Fatalf("call with a valid token: %v %v (tools %v)", res, err, toolNames(t, s))
	}
	var rec auditRecord
	waitFor(t, 30*time.Second, "the audit record of the call", func() bool {
		for _, r := range readAudit(t, auditFile) {
			if r.Target.CapabilityName == "hdr_whoami" && r.Outcome.Status == "success" {
				rec = r
				return true
			}
		}
		return false
	})
	if rec.Source.UserID == nil || *rec.Source.UserID != client.ID || rec.Metadata["issuer"] != idp.Issuer() ||
		fmt.Sprint(rec.Metadata["groups"]) != "[argus-admins dev]" {
		t.Errorf("audit record: user %v, metadata %v; want user %s issuer %s", rec.Source.UserID, rec.Metadata, client.ID, idp.Issuer())
	}

	// The management API admits a JWT of the admin group, and its session
	// list says who each session belongs to.
	req, _ := http.NewRequest("GET", "http://"+addr+"/manage/v1/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Sessions []struct {
			User, Issuer string
			Groups       []string
		} `json:"sessions"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(list.Sessions) != 1 || list.Sessions[0].User != client.ID || list.Sessions[0].Issuer != idp.Issuer() {
		t.Errorf("sessions with an admin JWT: %d %+v", resp.StatusCode, list)
	}
	// No management token is configured: the admin JWT may change things
	// too, and the audit trail says which admin did.
	req, _ = http.NewRequest("POST", "http://"+addr+"/manage/v1/reconnect/hdr", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("reconnect with an admin JWT: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	var op auditRecord
	waitFor(t, 30*time.Second, "the audit record of the reconnect", func() bool {
		for _, r := range readAudit(t, auditFile) {
			if r.EventType == "management_operation" {
				op = r
				return true
			}
		}
		return false
	})
	if op.Source.UserID == nil || *op.Source.UserID != client.ID || op.Metadata["issuer"] != idp.Issuer() ||
		fmt.Sprint(op.Metadata["groups"]) != "[argus-admins dev]" || op.Target.CapabilityName != "hdr" {
		t.Errorf("reconnect's audit record: user %v, metadata %v, target %+v; want user %s", deref(op.Source.UserID), op.Metadata, op.Target, client.ID)
	}

	// RFC 9728 metadata, at both locations.
	meta := "http://" + addr + "/.well-known/oauth-protected-resource"
	for _, u := range []string{meta, meta + "/mcp"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
		}
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != 200 || m.Resource != resource || !slices.Equal(m.AuthorizationServers, []string{idp.Issuer()}) {
			t.Errorf("%s: %d %+v", u, resp.StatusCode, m)
		}
	}

	// No token: 401 with resource_metadata and no error code.
	status, challenge := postInit(t, url, "")
	if status != 401 || !strings.Contains(challenge, `resource_metadata="`+meta+`/mcp"`) || strings.Contains(challenge, "error=") {
		t.Errorf("no token: %d %q", status, challenge)
	}

	parts, claims := jwtParts(t, token)
	tampered := func() string {
		c := cloneClaims(claims)
		c["sub"] = "someone-else"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	short := idp.CreateClientTTL(t, time.Second, resource)
	expired := idp.Token(t, short, resource)
	selfSigned := func() string {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "evil"))
		c := cloneClaims(claims)
		c["iss"] = "https://evil.example/"
		tok, _ := jwt.Signed(sg).Claims(c).Serialize()
		return tok
	}()
	rogueClient := rogue.CreateClient(t, resource)
	cases := []struct{ name, token, want string }{
		{"wrong audience", idp.Token(t, client, "http://elsewhere.example/mcp"), "audience"},
		{"wrong issuer", selfSigned, "untrusted issuer"},
		{"tampered", tampered, "signature"},
		{"alg none", none, "algorithm"},
		{"second hydra, same issuer, other keys", rogue.Token(t, rogueClient, resource), "key"},
	}
	// The short-lived token expires (1s lifespan, 1s leeway).
	waitFor(t, 30*time.Second, "the short-lived token to expire", func() bool {
		st, _ := postInit(t, url, "Bearer "+expired)
		return st == 401
	})
	cases = append(cases, struct{ name, token, want string }{"expired", expired, "expired"})
	for _, tc := range cases {
		status, challenge := postInit(t, url, "Bearer "+tc.token)
		if status != 401 || !strings.Contains(challenge, `error="invalid_token"`) ||
			!strings.Contains(challenge, `resource_metadata="`+meta+`/mcp"`) || !strings.Contains(challenge, tc.want) {
			t.Errorf("%s: %d %q; want 401 invalid_token mentioning %q", tc.name, status, challenge, tc.want)
		}
	}

	// Hydra rotates its signing key: new tokens carry a new kid, which
	// Argus fetches (at most once per jwks_min_refresh) without restart.
	kid := idp.RotateKeys(t, "ES256")
	rotated := idp.Token(t, client, resource)
	if h, _ := jwtHeader(rotated); h["kid"] != kid {
		t.Fatalf("Hydra did not sign with the new key: %v", h)
	}
	waitFor(t, 30*time.Second, "a token of the rotated key to be accepted", func() bool {
		st, _ := postInit(t, url, "Bearer "+rotated)
		return st == 200
	})
	s2 := connectWithToken(t, url, rotated)
	if _, err := s2.CallTool(context.Background(), &mcp.CallToolParams{Name: "hdr_whoami"}); err != nil {
		t.Fatalf("call after rotation: %v", err)
	}

	// The backend saw its own credential only, never a client's token.
	seen := backend.authorizations()
	if len(seen) == 0 {
		t.Fatal("the backend saw no requests")
	}
	for _, a := range seen {
		if a != "Bearer backend-own-credential" {
			t.Errorf("backend received Authorization %q", a)
		}
	}
}

func jwtHeader(token string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		return nil, err
	}
	var h map[string]any
	return h, json.Unmarshal(b, &h)
}

func cloneClaims(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestE2EPolicyQuotaHydra: with Hydra tokens carrying groups, a policy
// denies a group a tool (JSON-RPC error, audited as error_type "denied"
// with the policy's name) and hides it from that group's tool list; a
// quota is exceeded (audited as "rate_limited") and recovers.
func TestE2EPolicyQuotaHydra(t *testing.T) {
	idp := hydratest.Start(t, hydratest.Options{})
	backend := startHeaderBackend(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	resource := "http://" + addr + "/mcp"
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	url, _ := startArgus(t, fmt.Sprintf(`
server { listen = %q }
log { level = "warn" }
auth {
  jwt "hydra" {
    issuer    = %q
    audiences = [%q]
  }
}
policy "staff" {
  effect = "allow"
  groups = ["staff"]
}
policy "no-contractors" {
  effect = "deny"
  tools  = ["hdr_*"]
  groups = ["contractors"]
}
quota "default" {
  rate  = 2
  per   = "2s"
  burst = 2
}
audit {
  sink "jsonl" "primary" {
    file  = %q
    fsync = "always"
  }
}
backend "hdr" {
  type = "streamable-http"
  url  = %q
}
`, addr, idp.Issuer(), resource, auditFile, backend.url+"/mcp"))

	staff := idp.CreateClient(t, resource)
	idp.SetGroups(staff.ID, []string{"staff"})
	contractor := idp.CreateClient(t, resource)
	idp.SetGroups(contractor.ID, []string{"staff", "contractors"})
	ctx := context.Background()

	cs := connectWithToken(t, url, idp.Token(t, contractor, resource))
	if names := toolNames(t, cs); slices.Contains(names, "hdr_whoami") {
		t.Errorf("a denied tool is listed: %v", names)
	}
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hdr_whoami"})
	if err == nil || !strings.Contains(err.Error(), `denied by policy "no-contractors"`) {
		t.Fatalf("contractor call: %v", err)
	}

	ss := connectWithToken(t, url, idp.Token(t, staff, resource))
	var limited error
	for range 5 { // burst 2: a third call in quick succession is refused
		if _, err := ss.CallTool(ctx, &mcp.CallToolParams{Name: "hdr_whoami"}); err != nil {
			limited = err
			break
		}
	}
	if limited == nil || !strings.Contains(limited.Error(), "retry in") {
		t.Fatalf("quota: %v", limited)
	}
	waitFor(t, 30*time.Second, "the quota to recover", func() bool {
		_, err := ss.CallTool(ctx, &mcp.CallToolParams{Name: "hdr_whoami"})
		return err == nil
	})

	waitFor(t, 30*time.Second, "the denial and the refusal in the audit trail", func() bool {
		var denied, limited bool
		for _, r := range readAudit(t, auditFile) {
			et := ""
			if r.Outcome.ErrorType != nil {
				et = *r.Outcome.ErrorType
			}
			user := ""
			if r.Source.UserID != nil {
				user = *r.Source.UserID
			}
			denied = denied || (r.Outcome.Status == "error" && et == "denied" && user == contractor.ID && r.Metadata["policy"] == "no-contractors")
			limited = limited || (r.Outcome.Status == "error" && et == "rate_limited" && user == staff.ID && r.Metadata["policy"] == "quota:default")
		}
		return denied && limited
	})
}
