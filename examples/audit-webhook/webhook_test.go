package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/argusmcp/argus/sdk/sdktest"
)

// receiver is a webhook endpoint that records every request.
type receiver struct {
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	failures atomic.Int32 // answer 503 this many times first
	status   int          // else answer this (default 204)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	if r.failures.Add(-1) >= 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func start(t *testing.T, r *receiver) string {
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformance(t *testing.T) {
	sdktest.SinkConformance(t, Plugin(), `url = "`+start(t, &receiver{})+`"`)
}

func TestBatchIsSignedJSONArray(t *testing.T) {
	r := &receiver{}
	sink := sdktest.Start(t, Plugin()).Sink(`
url    = "` + start(t, r) + `/ingest"
secret = "s3cr3t-key"
headers = { Authorization = "Bearer abc" }
`)
	events := sdktest.AuditEvents(1, 3)
	if ack, err := sink.Write(context.Background(), events...); err != nil || ack != 3 {
		t.Fatalf("Write = %d, %v", ack, err)
	}
	if len(r.bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(r.bodies))
	}
	var got []json.RawMessage
	if err := json.Unmarshal(r.bodies[0], &got); err != nil || len(got) != 3 {
		t.Fatalf("body is not a JSON array of 3 events: %v\n%s", err, r.bodies[0])
	}
	for i, e := range events {
		if string(got[i]) != string(e.JSON) {
			t.Errorf("event %d = %s, want %s", i, got[i], e.JSON)
		}
	}
	mac := hmac.New(sha256.New, []byte("s3cr3t-key"))
	mac.Write(r.bodies[0])
	h := r.headers[0]
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); h.Get("X-Argus-Signature") != want {
		t.Errorf("signature %q, want %q", h.Get("X-Argus-Signature"), want)
	}
	if h.Get("Content-Type") != "application/json" || h.Get("Authorization") != "Bearer abc" ||
		h.Get("X-Argus-First-Seq") != "1" || h.Get("X-Argus-Last-Seq") != "3" || h.Get("X-Argus-Stream") != "sdktest" {
		t.Errorf("headers %v", h)
	}
}

func TestNoSecretNoSignature(t *testing.T) {
	r := &receiver{}
	sink := sdktest.Start(t, Plugin()).Sink(`url = "` + start(t, r) + `"`)
	if _, err := sink.Write(context.Background(), sdktest.AuditEvents(1, 1)...); err != nil {
		t.Fatal(err)
	}
	if sig := r.headers[0].Get("X-Argus-Signature"); sig != "" {
		t.Errorf("signature %q without a secret", sig)
	}
}

func TestRetries(t *testing.T) {
	r := &receiver{}
	r.failures.Store(2)
	sink := sdktest.Start(t, Plugin()).Sink(`
url           = "` + start(t, r) + `"
retry_backoff = "10ms"
`)
	if ack, err := sink.Write(context.Background(), sdktest.AuditEvents(1, 2)...); err != nil || ack != 2 {
		t.Fatalf("Write after two 503s = %d, %v", ack, err)
	}
	if len(r.bodies) != 3 || string(r.bodies[0]) != string(r.bodies[2]) {
		t.Errorf("%d attempts, want 3 identical", len(r.bodies))
	}

	// Out of retries: the batch fails and is not acknowledged.
	r2 := &receiver{}
	r2.failures.Store(100)
	sink = sdktest.Start(t, Plugin()).Sink(`
url           = "` + start(t, r2) + `"
retry_backoff = "1ms"
max_retries   = 2
`)
	if _, err := sink.Write(context.Background(), sdktest.AuditEvents(1, 1)...); err == nil || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("Write = %v, want failure after 3 attempts", err)
	}

	// A 4xx is not retried.
	r3 := &receiver{status: http.StatusBadRequest}
	sink = sdktest.Start(t, Plugin()).Sink(`url = "` + start(t, r3) + `"`)
	if _, err := sink.Write(context.Background(), sdktest.AuditEvents(1, 1)...); err == nil || len(r3.bodies) != 1 {
		t.Errorf("Write = %v after %d attempts, want one failed attempt", err, len(r3.bodies))
	}
}

func TestInvalidConfig(t *testing.T) {
	h := sdktest.Start(t, Plugin())
	for config, want := range map[string]string{
		`url = "ftp://x"`: `"ftp://x" is not an absolute http:// or https:// URL.`,
		`secret = "x"`:    `The argument "url" is required`,
		`url = "http://x"` + "\nmax_retries = -1": `must be zero or more`,
	} {
		if out := h.Configure(sdktest.KindAuditSink, config, sdktest.ConfigureOptions{DryRun: true}); !strings.Contains(out, want) {
			t.Errorf("%s: diagnostics\n%s\nwant %q", config, out, want)
		}
	}
}
