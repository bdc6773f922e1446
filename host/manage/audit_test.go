package manage

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/audit/recent"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/identity"
	"github.com/argusmcp/argus/host/request"
)

// auditEvent is an audit record in the fixed wire format.
func auditEvent(id, user, backend, capability, status string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"timestamp":%q,"event_type":"mcp_operation","event_id":%q,`+
		`"source":{"session_id":"s","client_ip":"127.0.0.1","user_id":%q},`+
		`"target":{"backend":%q,"method":"call_tool","capability_name":%q,"original_name":"x"},`+
		`"outcome":{"status":%q,"latency_ms":1.5,"error":null,"error_type":null},"metadata":{}}`,
		audit.Timestamp(at), id, user, backend, capability, status)
}

func newAuditAPI(t *testing.T) (*API, *recent.Ring) {
	t.Helper()
	api, _, _ := newAPI(t, health.Ready)
	ring := recent.New(4)
	api.o.AuditRing = ring
	now := time.Now()
	ring.Add(auditEvent("e0", "alice", "demo", "demo_echo", "success", now.Add(-2*time.Hour))) // pushed out below
	ring.Add(auditEvent("e1", "alice", "demo", "demo_echo", "success", now.Add(-90*time.Minute)))
	ring.Add(auditEvent("e2", "bob", "demo", "demo_add", "error", now.Add(-30*time.Minute)))
	ring.Add(auditEvent("e3", "alice", "other", "other_echo", "error", now.Add(-5*time.Minute)))
	ring.Add(auditEvent("e4", "bob", "other", "other_add", "success", now.Add(-time.Minute)))
	return api, ring
}

func auditIDs(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		Events []struct {
			EventID string `json:"event_id"`
		}
		Count  int
		Buffer int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Count != len(body.Events) || body.Buffer != 4 {
		t.Fatalf("count %d buffer %d for %d events", body.Count, body.Buffer, len(body.Events))
	}
	var ids []string
	for _, e := range body.Events {
		ids = append(ids, e.EventID)
	}
	return strings.Join(ids, ",")
}

func TestAuditQuery(t *testing.T) {
	api, _ := newAuditAPI(t)
	for _, c := range []struct{ q, want string }{
		{"", "e4,e3,e2,e1"}, // newest first; e0 fell out of the ring of 4
		{"?user=alice", "e3,e1"},
		{"?user=alice&status=error", "e3"},
		{"?backend=demo", "e2,e1"},
		{"?capability=*_add", "e4,e2"},
		{"?since=10m", "e4,e3"},
		{"?until=10m", "e2,e1"},
		{"?limit=1", "e4"},
		{"?user=carol", ""},
	} {
		if got := auditIDs(t, do(t, api, "GET", "/manage/v1/audit"+c.q, goodToken)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.q, got, c.want)
		}
	}
}

func TestAuditBadFilterAndAuth(t *testing.T) {
	api, _ := newAuditAPI(t)
	for _, c := range []struct{ q, msg string }{
		{"?limit=0", "limit"},
		{"?limit=ten", "limit"},
		{"?since=yesterday", "since"},
		{"?user=[", "bad pattern"},
		{"?usr=alice", `unknown filter`},
		// A malformed query string or a repeated filter must not drop
		// or pick a filter silently (which would widen the match).
		{"?user=al%zzice", "query string"},
		{"?limit=5&user=%", "query string"},
		{"?user=alice&user=bob", `given 2 times`},
	} {
		for _, path := range []string{"/manage/v1/audit", "/manage/v1/audit/stream"} {
			rec := do(t, api, "GET", path+c.q, goodToken)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.msg) {
				t.Errorf("%s%s: %d %s, want 400 mentioning %q", path, c.q, rec.Code, rec.Body, c.msg)
			}
		}
	}
	for _, path := range []string{"/manage/v1/audit", "/manage/v1/audit/stream", "/manage/v1/traffic"} {
		for _, tok := range []string{"", "wrong-token-0123456789"} {
			if rec := do(t, api, "GET", path, tok); rec.Code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d, want 401", path, tok, rec.Code)
			}
		}
	}
	// An admin JWT (Options.Admin) is admitted like the static token.
	api.o.Admin = func(_ context.Context, tok string) (identity.Identity, bool) {
		return identity.Identity{UserID: "carol"}, tok == "admin-jwt"
	}
	if rec := do(t, api, "GET", "/manage/v1/audit", "admin-jwt"); rec.Code != http.StatusOK {
		t.Errorf("admin JWT: %d", rec.Code)
	}
}

func TestAuditWithoutRing(t *testing.T) {
	api, _, _ := newAPI(t, health.Ready)
	var nilRing *recent.Ring // management.audit_buffer = 0
	for _, ring := range []AuditRing{nil, nilRing} {
		api.o.AuditRing = ring
		rec := do(t, api, "GET", "/manage/v1/audit", goodToken)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"events": []`) {
			t.Errorf("no ring: %d %s", rec.Code, rec.Body)
		}
		if rec := do(t, api, "GET", "/manage/v1/audit/stream", goodToken); rec.Code != http.StatusNotFound {
			t.Errorf("stream without ring: %d", rec.Code)
		}
	}
}

func TestAuditStreamFilters(t *testing.T) {
	api, ring := newAuditAPI(t)
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/manage/v1/audit/stream?user=alice&status=error", nil)
	req.Header.Set("Authorization", "Bearer "+goodToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": connected" { // subscribed from here
		t.Fatalf("first line %q", sc.Text())
	}
	now := time.Now()
	ring.Add(auditEvent("n1", "alice", "demo", "demo_echo", "success", now)) // filtered out
	ring.Add(auditEvent("n2", "bob", "demo", "demo_echo", "error", now))     // filtered out
	ring.Add(auditEvent("n3", "alice", "demo", "demo_echo", "error", now))
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
			break
		}
	}
	if event != "audit" || !strings.Contains(data, `"event_id":"n3"`) {
		t.Fatalf("first streamed event %q %s, want audit n3", event, data)
	}
}

func TestTraffic(t *testing.T) {
	api, _, _ := newAPI(t, health.Ready)
	tr := NewTraffic()
	now := time.Date(2026, 11, 30, 10, 0, 5, 0, time.UTC)
	tr.now = func() time.Time { return now }
	api.o.Traffic = tr
	end := func(err error, o request.Outcome) {
		tr.Observer().End(context.Background(), &request.Call{Method: "tools/call", Err: err, Outcome: o})
	}
	// 30 s ago: 7 requests, 3 failed; in the current bucket: 1.
	now = now.Add(-30 * time.Second)
	for i := range 6 {
		if i < 2 {
			end(fmt.Errorf("boom"), request.OutcomeTransport)
		} else {
			end(nil, request.OutcomeSuccess)
		}
	}
	end(nil, request.OutcomeToolError)                                          // a tool result with isError fails too
	tr.Observer().End(context.Background(), &request.Call{InputRequired: true}) // one round of a call that goes on: not counted
	now = now.Add(30 * time.Second)
	end(nil, request.OutcomeSuccess)
	// Eleven minutes ago is outside the window (and its slot is reused).
	var r TrafficReport
	rec := do(t, api, "GET", "/manage/v1/traffic", goodToken)
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(r.Buckets) != TrafficBuckets || r.BucketSeconds != 10 {
		t.Fatalf("%d buckets of %d s", len(r.Buckets), r.BucketSeconds)
	}
	last, third := r.Buckets[TrafficBuckets-1], r.Buckets[TrafficBuckets-4]
	if last.Requests != 1 || third.Requests != 7 || third.Errors != 3 || !third.Start.Equal(time.Date(2026, 11, 30, 9, 59, 30, 0, time.UTC)) {
		t.Fatalf("buckets: last %+v, 30 s ago %+v", last, third)
	}
	// The last minute is 50 s of complete buckets and 5 s of the current.
	if r.RequestRate != 8.0/55 || r.ErrorRate != 3.0/8 {
		t.Errorf("rates %v %v, want 8/55 and 3/8", r.RequestRate, r.ErrorRate)
	}
	// A bucket's slot comes round again after the window: the old counts go.
	now = now.Add(TrafficBucket * TrafficBuckets)
	end(nil, request.OutcomeSuccess)
	if got := tr.Report(); got.Buckets[TrafficBuckets-1].Requests != 1 || got.RequestRate != 1.0/55 {
		t.Errorf("after a full window: %+v rate %v", got.Buckets[TrafficBuckets-1], got.RequestRate)
	}
}

// TestStreamLimit: SSE streams are capped (every audit event is handed to
// every audit stream under one lock on the request path); one more is a
// 503 with Retry-After, and a closed stream frees its slot.
func TestStreamLimit(t *testing.T) {
	api, _ := newAuditAPI(t)
	api.o.MaxStreams = 2
	srv := httptest.NewServer(api)
	defer srv.Close()
	open := func(ctx context.Context) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/manage/v1/audit/stream", nil)
		req.Header.Set("Authorization", "Bearer "+goodToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, firstCancel := context.WithCancel(ctx)
	for _, c := range []context.Context{first, ctx} {
		if resp := open(c); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream within the limit: %d", resp.StatusCode)
		}
	}
	resp := open(ctx)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream over the limit: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	firstCancel() // the server notices and frees the slot
	for {
		resp := open(ctx)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("a closed stream did not free its slot")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
