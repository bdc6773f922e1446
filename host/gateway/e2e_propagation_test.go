package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// TestE2ETracePropagation: what of a client's trace context each backend
// receives in _meta, by its trace_propagation, with telemetry off (the
// client's own, passed on) and on (Argus's CLIENT span's, in the client's
// trace). The demo servers' traceparent tool answers with what its
// request's _meta held.
func TestE2ETracePropagation(t *testing.T) {
	const (
		clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientSpan  = "00f067aa0ba902b7"
		tracestate  = "vendor=1"
		baggage     = "user=alice"
	)
	tp := "00-" + clientTrace + "-" + clientSpan + "-01"
	backends := ""
	for _, b := range []struct{ name, setting string }{
		{"all", ""}, // the default
		{"trace", `trace_propagation = "trace"`},
		{"none", `trace_propagation = "none"`},
	} {
		backends += fmt.Sprintf("backend %q {\n  type = \"stdio\"\n  command = %s\n  args = [\"-name\", %q]\n  %s\n}\n",
			b.name, hclString(binPath(t, testbin.DemoServer)), b.name, b.setting)
	}
	// And over streamable HTTP, whose requests Argus writes on its own
	// path, and whose headers carry the trace context too.
	for _, b := range []struct{ name, setting string }{{"httpall", "all"}, {"httptrace", "trace"}} {
		httpURL, _ := startDemoHTTPProc(t, b.name)
		backends += fmt.Sprintf("backend %q {\n  type = \"streamable-http\"\n  url = %q\n  trace_propagation = %q\n}\n", b.name, httpURL, b.setting)
	}
	// Telemetry on exports to a port nothing listens on: spans are made
	// and propagated whether or not an export succeeds.
	const telemetryOn = `
server {
  shutdown_timeout = "2s"
}
telemetry {
  enabled = true
  exporter "otlp" "nowhere" {
    endpoint    = "127.0.0.1:9"
    insecure    = true
    timeout     = "1s"
    max_elapsed = "1s"
  }
}
`
	for _, tel := range []struct {
		name, cfg string
	}{{"telemetry off", ""}, {"telemetry on", telemetryOn}} {
		t.Run(tel.name, func(t *testing.T) {
			url, _ := startArgus(t, mgmtBlock+"audit {\n  enabled = false\n}\n"+tel.cfg+backends)
			for name, want := range map[string]string{"all": "all", "trace": "trace", "none": "none", "httptrace": "trace"} {
				if got := backendStatus(t, url, name).TracePropagation; got != want {
					t.Errorf("management API: backend %s trace_propagation %q, want %q", name, got, want)
				}
			}
			s := connect(t, url)
			seen := func(backend string) traceContextSeen {
				t.Helper()
				res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: backend + "_traceparent",
					Meta: mcp.Meta{"traceparent": tp, "tracestate": tracestate, "baggage": baggage, "progressToken": "p1"}})
				if err != nil || res.IsError {
					t.Fatalf("%s: %v %+v", backend, err, res)
				}
				raw, _ := json.Marshal(res.StructuredContent)
				var got traceContextSeen
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Fatalf("%s: structured content %s: %v", backend, raw, err)
				}
				return got
			}
			wantTrace := func(backend string, got traceContextSeen) {
				t.Helper()
				if tel.cfg == "" {
					if got.Traceparent != tp {
						t.Errorf("%s: traceparent %q, want the client's %q", backend, got.Traceparent, tp)
					}
				} else if !strings.HasPrefix(got.Traceparent, "00-"+clientTrace+"-") || strings.Contains(got.Traceparent, clientSpan) {
					t.Errorf("%s: traceparent %q, want the client's trace with Argus's CLIENT span as parent", backend, got.Traceparent)
				}
				if got.Tracestate != tracestate {
					t.Errorf("%s: tracestate %q, want %q", backend, got.Tracestate, tracestate)
				}
			}

			all := seen("all")
			wantTrace("all", all)
			if all.Baggage != baggage {
				t.Errorf("all: baggage %q, want %q", all.Baggage, baggage)
			}
			trace := seen("trace")
			wantTrace("trace", trace)
			if trace.Baggage != "" {
				t.Errorf("trace: baggage %q reached the backend", trace.Baggage)
			}
			httpTrace := seen("httptrace")
			wantTrace("httptrace", httpTrace)
			if httpTrace.Baggage != "" || httpTrace.HeaderBaggage != "" {
				t.Errorf("httptrace: baggage %q / header %q reached the backend", httpTrace.Baggage, httpTrace.HeaderBaggage)
			}
			httpAll := seen("httpall")
			wantTrace("httpall", httpAll)
			// The headers: with telemetry on, the CLIENT span's context as
			// in _meta (the baggage only where it may go); with it off,
			// none (Argus passes the client's _meta on, nothing more).
			for _, h := range []struct {
				name    string
				got     traceContextSeen
				baggage string
			}{{"httpall", httpAll, baggage}, {"httptrace", httpTrace, ""}} {
				want := traceContextSeen{}
				if tel.cfg != "" {
					want = traceContextSeen{HeaderTraceparent: h.got.Traceparent, HeaderTracestate: tracestate, HeaderBaggage: h.baggage}
				}
				got := traceContextSeen{HeaderTraceparent: h.got.HeaderTraceparent, HeaderTracestate: h.got.HeaderTracestate, HeaderBaggage: h.got.HeaderBaggage}
				if got != want {
					t.Errorf("%s: HTTP headers carried %+v, want %+v", h.name, got, want)
				}
			}
			if none := seen("none"); none != (traceContextSeen{}) {
				t.Errorf("none: the backend received %+v", none)
			}
		})
	}
}

// traceContextSeen is the demo server's traceparent tool's structured
// answer.
type traceContextSeen struct {
	Traceparent       string `json:"traceparent"`
	Tracestate        string `json:"tracestate"`
	Baggage           string `json:"baggage"`
	HeaderTraceparent string `json:"header_traceparent"`
	HeaderTracestate  string `json:"header_tracestate"`
	HeaderBaggage     string `json:"header_baggage"`
}

// TestE2ETracePropagationReload: a reload that changes only a backend's
// trace_propagation applies it to the running backend, from its next
// request, without restarting it (same process, same session), and says
// so under "updated".
func TestE2ETracePropagationReload(t *testing.T) {
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	block := func(setting string) string {
		return fmt.Sprintf("backend \"r\" {\n  type = \"stdio\"\n  command = %s\n  args = [\"-name\", \"r\"]\n  trace_propagation = %q\n}\n",
			hclString(binPath(t, testbin.DemoServer)), setting)
	}
	base := mgmtBlock + "audit {\n  enabled = false\n}\n"
	url, proc := startArgus(t, base+block("none"))
	path := proc.Cmd.Args[len(proc.Cmd.Args)-1]
	src, _ := os.ReadFile(path) // with the listen address startArgus added
	listen := string(src[:strings.Index(string(src), mgmtBlock)])
	s := connect(t, url)
	call := func(tool string) *mcp.CallToolResult {
		t.Helper()
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Meta: mcp.Meta{"traceparent": tp}})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", tool, err, res)
		}
		return res
	}
	if got := text(t, call("r_traceparent")); got != "" {
		t.Fatalf("none: the backend received traceparent %q", got)
	}
	pid := text(t, call("r_pid"))

	if err := os.WriteFile(path, []byte(listen+base+block("all")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Changed []string `json:"changed"`
		Updated []string `json:"updated"`
	}
	if code := mgmt(t, url, "POST", "/reload", mgmtToken, &out); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if len(out.Changed) != 0 || len(out.Updated) != 1 || out.Updated[0] != "r" {
		t.Errorf("reload answered changed %v updated %v, want r updated", out.Changed, out.Updated)
	}
	if got := text(t, call("r_traceparent")); got != tp {
		t.Errorf("all, after the reload: the backend received traceparent %q, want %q", got, tp)
	}
	if got := text(t, call("r_pid")); got != pid {
		t.Errorf("the backend was restarted: pid %s, was %s", got, pid)
	}
	if got := backendStatus(t, url, "r").TracePropagation; got != "all" {
		t.Errorf("management API: trace_propagation %q after the reload", got)
	}
}
