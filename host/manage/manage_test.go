package manage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/catalog"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/events"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/supervisor"
	"github.com/argusmcp/argus/shared/healthstatus"
)

const goodToken = "7f3a9c1e5b2d4f60a8e1"

// fakeGateway is an in-memory Gateway for unit tests; the end-to-end tests
// in host/gateway run the real one.
type fakeGateway struct {
	backends    []supervisor.BackendStatus
	reconnected []string
	stateless   int
}

func (f *fakeGateway) Backends() []supervisor.BackendStatus { return f.backends }
func (f *fakeGateway) Backend(name string) (supervisor.BackendStatus, bool) {
	for _, b := range f.backends {
		if b.Name == name {
			return b, true
		}
	}
	return supervisor.BackendStatus{}, false
}
func (f *fakeGateway) Reconnect(name string) error {
	if _, ok := f.Backend(name); !ok {
		return errors.New("no backend named " + name)
	}
	f.reconnected = append(f.reconnected, name)
	return nil
}
func (f *fakeGateway) Sessions() []gateway.SessionStatus { return nil }
func (f *fakeGateway) StatelessInFlight() int            { return f.stateless }

func newAPI(t *testing.T, phases ...health.Phase) (*API, *fakeGateway, *events.Log) {
	t.Helper()
	fg := &fakeGateway{}
	for i, p := range phases {
		state := "connected"
		if !p.Live() {
			state = "disconnected"
		}
		fg.backends = append(fg.backends, supervisor.BackendStatus{Name: string(rune('a' + i)), Phase: p, State: state})
	}
	cat := catalog.New(catalog.Policy{Strategy: config.StrategyPrefix, Separator: "_", Backends: []string{"a", "b"}})
	cat.Set(&catalog.Inventory{Backend: "a", Tools: []*mcp.Tool{{Name: "search", Description: "Find things"}, {Name: "delete"}}})
	cat.Set(&catalog.Inventory{Backend: "b", Prompts: []*mcp.Prompt{{Name: "greet"}}})
	ev := events.New(10)
	api := New(Options{Gateway: fg, Catalog: cat, Events: ev, Token: goodToken, Version: "1.2.3",
		Started: func() (bool, time.Time) { return true, time.Now().Add(-time.Minute) }, Heartbeat: 20 * time.Millisecond})
	return api, fg, ev
}

func do(t *testing.T, h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestResolveToken(t *testing.T) {
	tests := []struct {
		configured, env string
		setEnv          bool
		want            string
		weak            bool
	}{
		{configured: "", want: ""},
		{configured: goodToken, want: goodToken},
		{configured: "short-token", weak: true},
		{configured: "changemechangeme", weak: true},
		{configured: "secret-token-123456", weak: true},
		{configured: "password1234567890", weak: true},
		{configured: "CHANGEME_CHANGEME_1", weak: true},
		{configured: goodToken, env: "changeme", setEnv: true, weak: true}, // the env var wins
		{configured: "short", env: goodToken + "x", setEnv: true, want: goodToken + "x"},
		// Set but empty (a container definition passing on an unset
		// variable): it does not take the configured token away.
		{configured: goodToken, env: "", setEnv: true, want: goodToken},
		{configured: goodToken, env: "  ", setEnv: true, want: goodToken},
	}
	for _, tt := range tests {
		if tt.setEnv {
			t.Setenv(TokenEnv, tt.env)
		}
		got, _, err := ResolveToken(tt.configured)
		if tt.weak {
			if !errors.Is(err, ErrWeakToken) {
				t.Errorf("%q/%q: err = %v, want weak", tt.configured, tt.env, err)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("%q/%q: %q, %v; want %q", tt.configured, tt.env, got, err, tt.want)
		}
	}
}

func TestAuthPublicPathsExact(t *testing.T) {
	api, _, _ := newAPI(t, health.Ready)
	for _, p := range []string{"/manage/v1/health", "/manage/v1/ready"} {
		if rec := do(t, api, "GET", p, ""); rec.Code != http.StatusOK {
			t.Errorf("%s without token: %d", p, rec.Code)
		}
	}
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/manage/v1/backends", ""},
		{"GET", "/manage/v1/backends", "wrong-token-0123456789"},
		{"POST", "/manage/v1/reconnect/health", ""},
		{"GET", "/manage/v1/health/", ""},
		{"GET", "/manage/v1/healthz", ""},
		{"GET", "/manage/v1/events/stream", ""},
	} {
		rec := do(t, api, tc.method, tc.path, tc.token)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s token %q: %d", tc.method, tc.path, tc.token, rec.Code)
		}
	}
	if rec := do(t, api, "GET", "/manage/v1/backends", goodToken); rec.Code != http.StatusOK {
		t.Errorf("right token: %d", rec.Code)
	}
	// Without a configured token protected endpoints stay closed.
	closed := New(Options{Gateway: &fakeGateway{}, Events: events.New(1)})
	if rec := do(t, closed, "GET", "/manage/v1/backends", goodToken); rec.Code != http.StatusForbidden {
		t.Errorf("no token configured: %d", rec.Code)
	}
}

func TestHealthAndReady(t *testing.T) {
	tests := []struct {
		phases  []health.Phase
		status  healthstatus.Status
		code    int
		ready   int
		healthy int
	}{
		{nil, "healthy", 200, 200, 0},
		{[]health.Phase{health.Ready, health.Ready}, "healthy", 200, 200, 2},
		{[]health.Phase{health.Ready, health.Failed}, "degraded", 200, 200, 1},
		{[]health.Phase{health.Degraded}, "unhealthy", 503, 503, 0},
		{[]health.Phase{health.Failed, health.Initializing}, "unhealthy", 503, 503, 0},
	}
	for _, tt := range tests {
		api, _, _ := newAPI(t, tt.phases...)
		rec := do(t, api, "GET", "/manage/v1/health", "")
		var h Health
		json.Unmarshal(rec.Body.Bytes(), &h)
		if rec.Code != tt.code || h.Status != tt.status || h.Backends.Total != len(tt.phases) || h.Backends.Healthy != tt.healthy || h.Version != "1.2.3" || h.UptimeSeconds < 59 {
			t.Errorf("%v: %d %+v", tt.phases, rec.Code, h)
		}
		if rec := do(t, api, "GET", "/manage/v1/ready", ""); rec.Code != tt.ready {
			t.Errorf("%v: ready %d %s", tt.phases, rec.Code, rec.Body.String())
		}
	}
}

func TestBackendsAndReconnect(t *testing.T) {
	api, fg, _ := newAPI(t, health.Ready, health.Failed)
	rec := do(t, api, "GET", "/manage/v1/backends/b", goodToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"phase": "Failed"`) {
		t.Errorf("backend b: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, api, "GET", "/manage/v1/backends/zz", goodToken); rec.Code != 404 {
		t.Errorf("unknown backend: %d", rec.Code)
	}
	if rec := do(t, api, "POST", "/manage/v1/reconnect/b", goodToken); rec.Code != http.StatusAccepted || len(fg.reconnected) != 1 {
		t.Errorf("reconnect: %d %v", rec.Code, fg.reconnected)
	}
	if rec := do(t, api, "POST", "/manage/v1/reconnect/zz", goodToken); rec.Code != 404 {
		t.Errorf("reconnect unknown: %d", rec.Code)
	}
	if rec := do(t, api, "GET", "/manage/v1/reconnect/b", goodToken); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET reconnect: %d", rec.Code)
	}
	if rec := do(t, api, "POST", "/manage/v1/reload", goodToken); rec.Code != http.StatusNotImplemented {
		t.Errorf("reload without a reloader: %d", rec.Code)
	}
}

func TestCapabilitiesFilters(t *testing.T) {
	api, _, _ := newAPI(t, health.Ready)
	var body struct {
		Capabilities []Capability      `json:"capabilities"`
		Routes       map[string]string `json:"routes"`
	}
	get := func(q string) int {
		body.Capabilities = nil
		rec := do(t, api, "GET", "/manage/v1/capabilities"+q, goodToken)
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code
	}
	if get("") != 200 || len(body.Capabilities) != 3 || body.Routes["tool:a_search"] != "a:search" {
		t.Errorf("all: %+v", body)
	}
	if get("?type=prompt") != 200 || len(body.Capabilities) != 1 || body.Capabilities[0].Name != "b_greet" {
		t.Errorf("type=prompt: %+v", body.Capabilities)
	}
	if get("?backend=a&search=find") != 200 || len(body.Capabilities) != 1 || body.Capabilities[0].OriginalName != "search" {
		t.Errorf("search: %+v", body.Capabilities)
	}
	if get("?type=widget") != 400 {
		t.Error("bad type accepted")
	}
}

func TestEventsQueryAndStream(t *testing.T) {
	api, _, ev := newAPI(t)
	ev.Emit(events.Info, "phase", "a", "one", nil)
	ev.Emit(events.Error, "phase", "a", "two", nil)
	var body struct{ Events []events.Event }
	rec := do(t, api, "GET", "/manage/v1/events?severity=error", goodToken)
	json.Unmarshal(rec.Body.Bytes(), &body)
	if len(body.Events) != 1 || body.Events[0].Message != "two" {
		t.Errorf("severity filter: %s", rec.Body.String())
	}
	for _, q := range []string{"?limit=-1", "?severity=loud", "?since=yesterday"} {
		if rec := do(t, api, "GET", "/manage/v1/events"+q, goodToken); rec.Code != 400 {
			t.Errorf("%s: %d", q, rec.Code)
		}
	}

	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/manage/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+goodToken)
	req.Header.Set("Last-Event-ID", "1") // replay what came after event 1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		ev.Emit(events.Warning, "health", "a", "three", nil)
	}()
	sc := bufio.NewScanner(resp.Body)
	var ids []string
	heartbeat := false
	deadline := time.After(5 * time.Second)
	for len(ids) < 2 || !heartbeat {
		select {
		case <-deadline:
			t.Fatalf("stream: ids %v heartbeat %v", ids, heartbeat)
		default:
		}
		if !sc.Scan() {
			t.Fatalf("stream ended: %v", sc.Err())
		}
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, id)
		}
		heartbeat = heartbeat || line == ": heartbeat"
	}
	if ids[0] != "2" || ids[1] != "3" {
		t.Errorf("stream ids = %v, want replay of 2 then live 3", ids)
	}
}

// TestReadyWhileDraining: once draining, /ready answers 503 with
// "draining" whatever the backends' state, while /health stays 200 (the
// process is alive and still serving).
func TestReadyWhileDraining(t *testing.T) {
	var draining atomic.Bool
	until := time.Now().Add(30 * time.Second)
	fg := &fakeGateway{backends: []supervisor.BackendStatus{{Name: "a", Phase: health.Ready, State: "connected"}}}
	api := New(Options{Gateway: fg, Events: events.New(1),
		Draining: func() (bool, time.Time) { return draining.Load(), until }})
	if rec := do(t, api, "GET", "/manage/v1/ready", ""); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "draining") {
		t.Fatalf("before draining: %d %s", rec.Code, rec.Body.String())
	}
	draining.Store(true)
	rec := do(t, api, "GET", "/manage/v1/ready", "")
	var r Ready
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || r.Ready || !r.Draining || !strings.Contains(r.Reason, "draining before shutdown") {
		t.Errorf("draining: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, api, "GET", "/manage/v1/health", ""); rec.Code != http.StatusOK {
		t.Errorf("health while draining: %d %s", rec.Code, rec.Body.String())
	}
}

// TestStatusCountsStatelessRequests: /status counts the requests of
// stateless clients being served apart from sessions, and `argus status`
// (GetStatus, Write) shows them.
func TestStatusCountsStatelessRequests(t *testing.T) {
	api, fg, _ := newAPI(t, health.Ready)
	fg.stateless = 3
	st, out := statusOf(t, api)
	if st.StatelessRequests != 3 || st.Sessions != 0 || !strings.Contains(out, "sessions 0   stateless requests 3") {
		t.Errorf("status %+v printed as:\n%s", st, out)
	}
}

// statusOf is api's status as `argus status` reads it (GetStatus), and
// as it prints it (Write).
func statusOf(t *testing.T, api *API) (StatusReport, string) {
	t.Helper()
	srv := httptest.NewServer(api)
	defer srv.Close()
	st, err := GetStatus(srv.URL+Prefix, goodToken)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	st.Write(&out)
	return st, out.String()
}

// TestStatusShowsSpanCounts: /status has what became of each span
// exporter's spans (an empty list with telemetry off), and `argus status`
// prints them.
func TestStatusShowsSpanCounts(t *testing.T) {
	api, _, _ := newAPI(t, health.Ready)
	if rec := do(t, api, "GET", "/manage/v1/status", goodToken); !strings.Contains(rec.Body.String(), `"telemetry": []`) {
		t.Errorf("status without telemetry: %s", rec.Body.String())
	}
	api.o.TelemetryStats = func() any {
		return []ExporterSpans{{Exporter: "exporter.collector", Exported: 1200, Dropped: 7, Lost: 512}}
	}
	st, out := statusOf(t, api)
	if len(st.Telemetry) != 1 || st.Telemetry[0] != (ExporterSpans{"exporter.collector", 1200, 7, 512}) ||
		!regexp.MustCompile(`SPAN EXPORTER +EXPORTED +DROPPED \(QUEUE FULL\) +LOST \(EXPORT FAILED\)\nexporter.collector +1200 +7 +512\n`).MatchString(out) {
		t.Errorf("status %+v printed as:\n%s", st.Telemetry, out)
	}
}

// LogToken says what the management API serves without a token: nothing
// but health and readiness, or, with auth.admin_groups, everything to an
// admin JWT (never "only health and ready" then, which would be untrue).
func TestLogToken(t *testing.T) {
	for _, tc := range []struct {
		token  string
		admins bool
		want   string
	}{
		{"", false, "[WARN]  no management token: only /manage/v1/health and /manage/v1/ready are served"},
		{"", true, "[INFO]  no management token: the management API admits the JWTs of auth.admin_groups only"},
		{goodToken, true, "[DEBUG] management token configured"},
	} {
		var buf bytes.Buffer
		LogToken(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug}), tc.token, "management.token", tc.admins)
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("token set %v, admins %v: logged %q, want %q", tc.token != "", tc.admins, buf.String(), tc.want)
		}
	}
}
