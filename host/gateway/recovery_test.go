package gateway_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/argusmcp/argus/host/config/configload"
	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/health"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/request"
	"github.com/argusmcp/argus/host/telemetry"
	"github.com/argusmcp/argus/host/transport"
	"github.com/argusmcp/argus/internal/syncbuf"
)

// outcomes is an Observer that counts the calls it sees end, by method
// and outcome, as the audit trail would record them.
type outcomes struct {
	mu    sync.Mutex
	ended map[string]int
}

func (o *outcomes) Begin(ctx context.Context, _ *request.Call) context.Context { return ctx }

func (o *outcomes) End(_ context.Context, c *request.Call) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended[c.Method+" "+c.Capability+" "+c.Outcome.String()]++
}

func (o *outcomes) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ended[key]
}

// TestE2EPanicRecovery: a panic at the very top of the goroutine the SDK
// runs for a client request, and of the one it runs for a backend request
// (the test-only hook), fails that one message with a JSON-RPC internal
// error and nothing else: the call is observed once as an internal error
// (audit, trace), the panic is logged once with its stack through the
// redacting logger and counted, and the gateway keeps serving.
func TestE2EPanicRecovery(t *testing.T) {
	const secret = "hook-secret-0123456789abcdef"
	var fired [2]atomic.Bool // client, backend: panic once each
	gateway.SetPanicHook(func(point, method string) {
		switch {
		case point == "client request" && method == "tools/call" && fired[0].CompareAndSwap(false, true):
			panic("test hook: client request panics with " + secret)
		case point == "backend message" && method == "roots/list" && fired[1].CompareAndSwap(false, true):
			panic("test hook: backend request panics")
		}
	})
	t.Cleanup(func() { gateway.SetPanicHook(nil) }) // runs last, after the gateway is closed

	cfg, diags := configload.NewParser().Load([]byte(demoStdio(t, "alpha")), "recovery.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	logs := &syncbuf.Buffer{}
	log, err := logging.New(logging.Options{Format: "json", Output: logs}, logging.NewSecrets(secret))
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(telemetry.Options{SpanExporters: []sdktrace.SpanExporter{spans}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	seen := &outcomes{ended: map[string]int{}}
	gw := gateway.New(cfg, log, gateway.Options{Version: "test", Observers: []request.Observer{tel.Observer(), seen}})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Close(ctx)
	})
	// Start returns at once; the backend connects in the background.
	waitFor(t, 30*time.Second, "alpha Ready", func() bool {
		b, ok := gw.Backend("alpha")
		return ok && b.Phase == health.Ready
	})
	srv := httptest.NewServer(transport.NewMCPHandler(transport.HTTPOptions{Server: gw.Server(), Panics: gw.Panics()}))
	t.Cleanup(srv.Close)
	do := rawSession(t, srv.URL, nil)

	// The client request's goroutine panics: internal error, same id.
	status, body := do(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"x"}}}`)
	if status != 200 || !strings.Contains(body, `"id":7`) || !strings.Contains(body, `"code":-32603`) {
		t.Errorf("panicking call: %d %s", status, body)
	}
	if n := seen.count("tools/call alpha_echo internal_error"); n != 1 {
		t.Errorf("panicking call observed %d times as internal_error, want 1: %v", n, seen.ended)
	}
	// The gateway still serves, the same session included.
	status, body = do(`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"alpha_echo","arguments":{"message":"still here"}}}`)
	if status != 200 || !strings.Contains(body, "still here") {
		t.Errorf("after the panic: %d %s", status, body)
	}

	// The backend's roots/list request panics in Argus's relay: the backend
	// gets an error for it, the client's call completes.
	status, body = do(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"alpha_roots","arguments":{}}}`)
	if status != 200 || !strings.Contains(body, `"id":9`) {
		t.Errorf("call whose backend request panicked: %d %s", status, body)
	}
	if got := gw.Panics().Count(); got != 2 {
		t.Errorf("Panics().Count() = %d, want 2", got)
	}

	out := logs.String()
	if n := strings.Count(out, "recovered panic"); n != 2 {
		t.Errorf("%d recovered-panic log lines, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "goroutine ") || !strings.Contains(out, "intercept") {
		t.Errorf("the log lacks the panic's stack:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("the log shows a secret the panic value quoted:\n%s", out)
	}

	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var errSpans int
	for _, s := range spans.GetSpans() {
		for _, a := range s.Attributes {
			if a.Key == attribute.Key("error.type") && a.Value.AsString() == "internal_error" {
				errSpans++
			}
		}
	}
	if errSpans != 1 {
		t.Errorf("%d spans with error.type internal_error, want 1", errSpans)
	}
}
