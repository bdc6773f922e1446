package request

import (
	"maps"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestWithoutTraceContext(t *testing.T) {
	full := mcp.Meta{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "a=1", "baggage": "user=alice", "progressToken": "p"}
	for _, tt := range []struct {
		name      string
		meta      mcp.Meta
		keepTrace bool
		want      mcp.Meta
	}{
		{"nil", nil, false, nil},
		{"nothing to drop", mcp.Meta{"progressToken": "p"}, false, mcp.Meta{"progressToken": "p"}},
		{"none", full, false, mcp.Meta{"progressToken": "p"}},
		{"trace", full, true, mcp.Meta{"traceparent": full["traceparent"], "tracestate": "a=1", "progressToken": "p"}},
		{"trace, no baggage to drop", mcp.Meta{"traceparent": "x"}, true, mcp.Meta{"traceparent": "x"}},
		{"only a trace context", mcp.Meta{"traceparent": "x", "baggage": "b"}, false, nil},
		{"only baggage", mcp.Meta{"baggage": "b"}, true, nil},
		{"any case, none", mcp.Meta{"Traceparent": "x", "TRACESTATE": "s", "BAGGAGE": "b", "Baggage": "c", "progressToken": "p"}, false, mcp.Meta{"progressToken": "p"}},
		{"any case, trace", mcp.Meta{"Traceparent": "x", "BAGGAGE": "b"}, true, mcp.Meta{"Traceparent": "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.meta)
			got := WithoutTraceContext(tt.meta, tt.keepTrace)
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if !maps.Equal(tt.meta, before) {
				t.Errorf("the given meta changed: %v, was %v", tt.meta, before)
			}
		})
	}
}
