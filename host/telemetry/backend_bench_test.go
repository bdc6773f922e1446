package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkBackendTraceContext is what carrying a trace context costs a
// go-sdk backend, which telemetry cannot help: one tools/call echo
// served by a go-sdk server (the SDK version Argus builds with, as the
// benchmarks' demo backend is) over a pipe, its request written as raw
// JSON, without _meta and with the W3C traceparent telemetry puts into
// _meta (SEP-414). The difference between the two is the server's: its
// request handling decodes _meta on its own, into a map, besides the
// params (the backend's part of the telemetry on/off ratio, which the
// hop benchmark's traced target measures end to end). On the 2-core VM:
// 268.5 KB and 153 allocations a call without, 279 KB and 167-168 with
// (its time, about 120 µs either way, is mostly the pipe's hand-offs in
// this loop; in the running backend the extra map and decoder cost more).
//
//	go test ./host/telemetry -run '^$' -bench BackendTraceContext -benchmem
func BenchmarkBackendTraceContext(b *testing.B) {
	for _, tc := range []struct{ name, meta string }{
		{"no-meta", ""},
		{"traceparent", `,"_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			call := sdkBackend(b)
			req := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}` + tc.meta + "}}\n"
			b.ReportAllocs()
			id := 2
			for b.Loop() {
				id++
				if answer := call(fmt.Sprintf(req, id)); !strings.Contains(answer, `"text":"hello"`) {
					b.Fatalf("answer %s", answer)
				}
			}
		})
	}
}

// sdkBackend connects a go-sdk server with an echo tool to a pipe,
// initializes it, and returns a function that writes one request line
// and returns the answer's line.
func sdkBackend(tb testing.TB) func(string) string {
	type echo struct {
		Message string `json:"message"`
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echo) (*mcp.CallToolResult, echo, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, in, nil
	})
	ours, theirs := net.Pipe()
	ss, err := server.Connect(context.Background(), &mcp.IOTransport{Reader: theirs, Writer: theirs}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ours.Close(); ss.Close() })
	r := bufio.NewReader(ours)
	call := func(line string) string {
		if _, err := ours.Write([]byte(line)); err != nil {
			tb.Fatal(err)
		}
		answer, err := r.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		return answer
	}
	if a := call(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}` + "\n"); !strings.Contains(a, `"result"`) {
		tb.Fatalf("initialize: %s", a)
	}
	if _, err := ours.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}` + "\n")); err != nil {
		tb.Fatal(err)
	}
	return call
}
