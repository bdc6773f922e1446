package backend

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/argusmcp/argus/host/request"
)

// TestTraceHeaders: a backend request whose context carries telemetry's
// injector gets its trace headers; trace headers configured on the
// backend stand for the whole trace context, so nothing is injected
// beside them; a request without an injector gets none.
func TestTraceHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	inject := func(h http.Header) {
		h.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		h.Set("Tracestate", "v=1")
		h.Set("Baggage", "user=alice")
	}
	for _, tt := range []struct {
		name                    string
		configured              map[string]string
		injector                bool
		traceparent, state, bag string
	}{
		{"injected", nil, true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "v=1", "user=alice"},
		{"no injector", nil, false, "", "", ""},
		{"configured traceparent", map[string]string{"traceparent": "x"}, true, "x", "", ""},
		{"other headers configured", map[string]string{"X-Team": "a"}, true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "v=1", "user=alice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := httpClient(NewPool(), tt.configured, &atomic.Pointer[string]{})
			ctx := context.Background()
			if tt.injector {
				ctx = request.WithHeaderInjector(ctx, inject)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got.Get("Traceparent") != tt.traceparent || got.Get("Tracestate") != tt.state || got.Get("Baggage") != tt.bag {
				t.Errorf("headers traceparent %q tracestate %q baggage %q, want %q %q %q",
					got.Get("Traceparent"), got.Get("Tracestate"), got.Get("Baggage"), tt.traceparent, tt.state, tt.bag)
			}
			if req.Header.Get("Traceparent") != "" {
				t.Error("the caller's request was changed")
			}
		})
	}
}
