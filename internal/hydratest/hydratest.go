// Package hydratest runs Ory Hydra, a real OAuth 2.1 / OpenID Connect
// authorization server, for end-to-end tests: in-memory database, JWT
// access tokens, loopback ports.
//
// Hydra is built from its own module in test/hydra (its dependencies stay
// out of the main module) into <repo>/.tools/bin/hydra-test, the file
// `make hydra` produces, unless that is newer than its sources. A cold
// build takes several minutes; progress is printed on stderr.
//
// Typical use:
//
//	h := hydratest.Start(t, hydratest.Options{})
//	client := h.CreateClient(t, "http://127.0.0.1:9000/mcp")
//	token := h.Token(t, client, "http://127.0.0.1:9000/mcp")
//
// Options.Groups adds a "groups" claim to the access tokens of chosen
// clients (through Hydra's token hook, served by the helper).
package hydratest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/argusmcp/argus/internal/otelcoltest"
	"github.com/argusmcp/argus/internal/syncbuf"
	"github.com/argusmcp/argus/internal/testbin"
	"github.com/argusmcp/argus/internal/toolbuild"
)

// BinaryName is the file name of the built Hydra under <repo>/.tools/bin.
const BinaryName = "hydra-test"

// StartTimeout bounds how long Start waits for Hydra to be ready.
var StartTimeout = 60 * time.Second

// Build returns the path of the Hydra binary, building it if needed.
func Build(tb testing.TB) string {
	tb.Helper()
	root, err := otelcoltest.RepoRoot()
	if err != nil {
		tb.Fatalf("hydratest: %v", err)
	}
	return toolbuild.Build(tb, root, toolbuild.Tool{Name: BinaryName, Dir: filepath.Join("test", "hydra"),
		Package: "github.com/ory/hydra/v2", Tags: "sqlite,sqlite_omit_load_extension", CGO: true, Progress: true})
}

// Options configure Start.
type Options struct {
	// Groups maps a client id to the groups its access tokens carry (in
	// a top-level "groups" claim). Clients not listed get none. It may be
	// changed through Server.SetGroups later.
	Groups map[string][]string
	// Issuer, if set, is the issuer Hydra writes into its tokens instead
	// of its own URL: a second Hydra that claims to be the first one, with
	// keys of its own.
	Issuer string
}

// Server is a running Hydra.
type Server struct {
	publicPort, adminPort int
	cmd                   *exec.Cmd
	output                *syncbuf.Buffer
	done                  chan struct{}
	hook                  *httptest.Server

	mu     sync.Mutex
	groups map[string][]string
	issuer string
}

// Start builds (if needed) and starts Hydra, waits until it is ready and
// registers a cleanup that stops it (and logs its output if the test
// failed).
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	bin := Build(tb)
	s := &Server{output: &syncbuf.Buffer{}, done: make(chan struct{}), groups: map[string][]string{}, issuer: o.Issuer}
	for k, v := range o.Groups {
		s.groups[k] = v
	}
	s.hook = httptest.NewServer(http.HandlerFunc(s.tokenHook))
	tb.Cleanup(s.hook.Close)
	s.publicPort, s.adminPort = testbin.FreePort(tb), testbin.FreePort(tb)
	for s.adminPort == s.publicPort {
		s.adminPort = testbin.FreePort(tb)
	}
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "hydra.yaml")
	if err := os.WriteFile(cfg, []byte(s.config()), 0o600); err != nil {
		tb.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out", "-c", cfg)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "DSN=memory", "LOG_LEVEL=warn")
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("hydratest: start: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("hydratest: Hydra output:\n%s", s.output.String())
		}
	})
	if err := s.waitReady(); err != nil {
		s.Stop()
		tb.Fatalf("hydratest: Hydra did not start: %v\n%s", err, s.output.String())
	}
	return s
}

func (s *Server) config() string {
	return fmt.Sprintf(`dsn: memory
serve:
  public: {host: 127.0.0.1, port: %d}
  admin: {host: 127.0.0.1, port: %d}
urls:
  self: {issuer: %s}
strategies:
  access_token: jwt
secrets:
  system: ["argus-hydratest-system-secret-0123456789"]
oauth2:
  allowed_top_level_claims: [groups]
  token_hook: %s
log:
  level: warn
`, s.publicPort, s.adminPort, s.Issuer(), s.hook.URL)
}

// tokenHook is Hydra's token hook: it adds the client's groups.
func (s *Server) tokenHook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Request struct {
			ClientID string `json:"client_id"`
		} `json:"request"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	groups := s.groups[req.Request.ClientID]
	s.mu.Unlock()
	at := map[string]any{}
	if groups != nil {
		at["groups"] = groups
	}
	json.NewEncoder(w).Encode(map[string]any{"session": map[string]any{"access_token": at, "id_token": map[string]any{}}})
}

// SetGroups sets the groups of clientID's future tokens.
func (s *Server) SetGroups(clientID string, groups []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[clientID] = groups
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("hydra exited: %v", s.cmd.ProcessState)
		default:
		}
		resp, err := http.Get(s.AdminURL() + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// The public port too (JWKS, token endpoint).
				if r2, err := http.Get(s.PublicURL() + ".well-known/jwks.json"); err == nil {
					r2.Body.Close()
					if r2.StatusCode == http.StatusOK {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", StartTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Issuer is the issuer Hydra writes into iss: Options.Issuer, or its
// public URL.
func (s *Server) Issuer() string {
	if s.issuer != "" {
		return s.issuer
	}
	return s.PublicURL()
}

// PublicURL is Hydra's public endpoint (token, JWKS, discovery), with a
// trailing slash.
func (s *Server) PublicURL() string { return fmt.Sprintf("http://127.0.0.1:%d/", s.publicPort) }

// AdminURL is the admin API's base URL.
func (s *Server) AdminURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.adminPort) }

// Client is an OAuth client registered with Hydra.
type Client struct {
	ID, Secret string
}

// CreateClient registers a client_credentials client allowed to ask for
// the given audiences.
func (s *Server) CreateClient(tb testing.TB, audiences ...string) Client {
	tb.Helper()
	return s.CreateClientTTL(tb, 0, audiences...)
}

// CreateClientTTL is CreateClient for a client whose access tokens live
// for ttl (0: Hydra's default, an hour).
func (s *Server) CreateClientTTL(tb testing.TB, ttl time.Duration, audiences ...string) Client {
	tb.Helper()
	m := map[string]any{
		"grant_types": []string{"client_credentials"}, "audience": audiences,
		"token_endpoint_auth_method": "client_secret_basic", "access_token_strategy": "jwt",
	}
	if ttl > 0 {
		m["client_credentials_grant_access_token_lifespan"] = ttl.String()
	}
	body, _ := json.Marshal(m)
	var out struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	s.admin(tb, http.MethodPost, "/admin/clients", body, &out)
	if out.ID == "" || out.Secret == "" {
		tb.Fatalf("hydratest: client without id or secret: %+v", out)
	}
	return Client{ID: out.ID, Secret: out.Secret}
}

// Token obtains an access token for c with the client credentials grant.
func (s *Server) Token(tb testing.TB, c Client, audience string) string {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if audience != "" {
		form.Set("audience", audience)
	}
	req, _ := http.NewRequest(http.MethodPost, s.PublicURL()+"oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("hydratest: token: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.AccessToken == "" {
		tb.Fatalf("hydratest: token: %s: %s", resp.Status, b)
	}
	return out.AccessToken
}

// RotateKeys adds a new key for alg (e.g. "ES256", "RS256") to the access
// token key set and returns its key id; Hydra signs new tokens with it.
// Hydra makes 4096-bit RSA keys, which a busy machine can take longer to
// generate than Hydra's admin server waits; ES256 keys are instant.
func (s *Server) RotateKeys(tb testing.TB, alg string) string {
	tb.Helper()
	kid := fmt.Sprintf("rotated-%d", time.Now().UnixNano())
	body, _ := json.Marshal(map[string]string{"alg": alg, "use": "sig", "kid": kid})
	s.admin(tb, http.MethodPost, "/admin/keys/hydra.jwt.access-token", body, nil)
	return kid
}

func (s *Server) admin(tb testing.TB, method, path string, body []byte, out any) {
	tb.Helper()
	req, _ := http.NewRequest(method, s.AdminURL()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("hydratest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("hydratest: %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("hydratest: %s %s: %v: %s", method, path, err, b)
		}
	}
}

// Stop ends Hydra: SIGTERM, then SIGKILL after 5s. Safe to call twice.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Output is what Hydra has logged so far.
func (s *Server) Output() string { return s.output.String() }
