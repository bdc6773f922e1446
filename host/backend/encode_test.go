package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// marshalled is what Conn.CallTool sent before toolCallParams: the
// params as encoding/json writes them, arguments {} when there are none.
func marshalled(p *mcp.CallToolParams) ([]byte, error) {
	q := *p
	if q.Arguments == nil {
		q.Arguments = map[string]any{}
	}
	return json.Marshal(&q)
}

// TestToolCallParams: what toolCallParams writes is one line, the JSON
// value encoding/json writes for the same params, and byte for byte the
// same where the arguments were compact without HTML characters (which
// encoding/json escapes in a json.RawMessage too); what encoding/json
// refuses it refuses.
func TestToolCallParams(t *testing.T) {
	traceCtx := mcp.Meta{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "k=v"}
	for _, tc := range []struct {
		name  string
		p     mcp.CallToolParams
		exact bool
	}{
		{"no arguments", mcp.CallToolParams{Name: "echo"}, true},
		{"compact arguments", mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(`{"message":"hi","n":[1,2.5,null,true]}`)}, true},
		{"arguments null", mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(`null`)}, true},
		{"arguments not an object", mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(`[1,"two"]`)}, true},
		{"pretty-printed arguments", mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage("{\n  \"message\": \"a b\",\r\n  \"deep\": {\"x\": [ 1 ,\n 2 ]}\n}")}, false},
		{"arguments with escapes", mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage(`{"m":"line\nbreak \"q\" \u2028 \\ <b>&"}`)}, false},
		{"odd name", mcp.CallToolParams{Name: "a\"b\\c\n\t\x01<>&\u2028\u2029é\xff", Arguments: json.RawMessage(`{}`)}, true},
		{"empty name", mcp.CallToolParams{}, true},
		{"trace context", mcp.CallToolParams{Meta: traceCtx, Name: "echo", Arguments: json.RawMessage(`{"message":"hi"}`)}, true},
		{"odd meta strings", mcp.CallToolParams{Meta: mcp.Meta{"z": "1", "a": "<x>\n\xfe", "é": "", "": "empty key"}, Name: "echo"}, true},
		{"meta with a number", mcp.CallToolParams{Meta: mcp.Meta{"progressToken": 7.0, "traceparent": "00-x"}, Name: "echo"}, true},
		{"meta with an object", mcp.CallToolParams{Meta: mcp.Meta{"k": map[string]any{"b": 1.0, "a": []any{"x"}}}, Name: "echo"}, true},
		{"empty meta", mcp.CallToolParams{Meta: mcp.Meta{}, Name: "echo"}, true},
		// A stateless client's capabilities, encoded once (revision.Declared).
		{"meta with encoded JSON", mcp.CallToolParams{Meta: mcp.Meta{mcp.MetaKeyClientCapabilities: json.RawMessage(`{"roots":{"listChanged":true},"x":"<&>"}`), "traceparent": "00-x"}, Name: "echo"}, false},
		{"meta with encoded JSON on lines", mcp.CallToolParams{Meta: mcp.Meta{"k": json.RawMessage("{\n\"a\": [1,\r\n2]}"), "traceparent": "00-x"}, Name: "echo"}, true},
		{"arguments a map", mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "sdk"}}, true},
		{"request state", mcp.CallToolParams{Name: "echo", RequestState: "s", Arguments: json.RawMessage(`{}`)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toolCallParams(&tc.p)
			want, werr := marshalled(&tc.p)
			if err != nil || werr != nil {
				t.Fatalf("toolCallParams: %v; json.Marshal: %v", err, werr)
			}
			if bytes.ContainsAny(got, "\r\n") {
				t.Fatalf("not one line: %q", got)
			}
			if tc.exact && !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("got  %s\nwant %s (as values)", got, want)
			}
		})
	}
	// Empty raw arguments (no decoder makes them; encoding/json would
	// refuse them) are sent as none.
	if b, err := toolCallParams(&mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage{}}); err != nil || string(b) != `{"name":"echo","arguments":{}}` {
		t.Fatalf("empty raw arguments: %s %v", b, err)
	}
	// Arguments that are no JSON are refused where they would have to be
	// rewritten, as encoding/json refuses them.
	bad := mcp.CallToolParams{Name: "echo", Arguments: json.RawMessage("{\n\"a\": }")}
	if b, err := toolCallParams(&bad); err == nil {
		t.Fatalf("broken arguments written as %s", b)
	}
	if _, err := marshalled(&bad); err == nil {
		t.Fatal("encoding/json took the broken arguments")
	}
}

func TestAppendRequest(t *testing.T) {
	got := appendRequest(nil, "argus-raw-7", "tools/call", json.RawMessage(`{"name":"echo"}`))
	if want := `{"jsonrpc":"2.0","id":"argus-raw-7","method":"tools/call","params":{"name":"echo"}}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := appendRequest(nil, `a"b`, "m", nil); string(got) != `{"jsonrpc":"2.0","id":"a\"b","method":"m"}` {
		t.Fatalf("no params: %s", got)
	}
}

// TestRawCallsShareStdin: Call writes to a stdio backend's stdin beside
// the SDK's session; with both writing at once, requests larger than a
// pipe's buffer (so written in parts) and pretty-printed arguments, every
// line the backend reads is one whole request, and every call gets its
// own answer.
func TestRawCallsShareStdin(t *testing.T) {
	logFile := t.TempDir() + "/read.log"
	c := dialHostileBackend(t, logFile, nil)
	defer c.Close()
	rec := &writeRecorder{w: c.raw.stdin}
	c.raw.mu.Lock()
	c.raw.stdin = rec
	c.raw.mu.Unlock()
	// Each request fills the pipe's buffer (64 KiB) several times over, so
	// that it is written in parts, and sixteen writers of each kind
	// contend for it. Whether a request written in more than one Write
	// interleaves with another depends on the scheduler (a writer that
	// lets go of the file's lock mostly takes it again first), so that
	// each request is one Write is checked apart, every time: recorded
	// below, on its way to the real stdin.
	big := strings.Repeat("x", 400<<10)
	args := json.RawMessage("{\n  \"message\": \"" + big + "\"\n}")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 4*writers)
	for i := range writers {
		name := fmt.Sprint("raw-", i)
		wg.Go(func() {
			for range 2 {
				res, err := c.CallTool(ctx, &mcp.CallToolParams{Meta: mcp.Meta{"traceparent": "00-" + name}, Name: name, Arguments: args})
				if b, _ := json.Marshal(res); err != nil || !strings.Contains(string(b), `"text":"`+name+`"`) {
					errs <- fmt.Errorf("%s: %s %v", name, b, err)
				}
			}
		})
		sdkName := fmt.Sprint("sdk-", i)
		wg.Go(func() {
			for range 2 {
				res, err := c.Session().CallTool(ctx, &mcp.CallToolParams{Name: sdkName, Arguments: map[string]any{"message": big}})
				if err != nil || res.Content[0].(*mcp.TextContent).Text != sdkName {
					errs <- fmt.Errorf("%s: %+v %v", sdkName, res, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	rec.mu.Lock()
	if len(rec.writes) != 2*writers {
		t.Errorf("Call wrote %d times for %d requests", len(rec.writes), 2*writers)
	}
	for _, w := range rec.writes {
		if !strings.HasPrefix(w, `{"jsonrpc":"2.0","id":"argus-raw-`) || strings.Count(w, "\n") != 1 || !strings.HasSuffix(w, "}\n") {
			t.Errorf("a Write of Call's was not one whole request: %.80q ... %.40q", w, w[max(0, len(w)-40):])
		}
	}
	rec.mu.Unlock()
	for err := range errs {
		t.Error(err)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for line := range strings.Lines(string(b)) {
		var m struct {
			Method string `json:"method"`
			Params struct {
				Meta      map[string]string `json:"_meta"`
				Name      string            `json:"name"`
				Arguments struct {
					Message string `json:"message"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("the backend read a line that is no request (%v): %.200s", err, line)
		}
		if m.Method != "tools/call" {
			continue
		}
		calls++
		if m.Params.Arguments.Message != big {
			t.Errorf("%s: the backend read a message of %d bytes, want %d", m.Params.Name, len(m.Params.Arguments.Message), len(big))
		}
		if raw := strings.HasPrefix(m.Params.Name, "raw-"); raw && m.Params.Meta["traceparent"] != "00-"+m.Params.Name || !raw && m.Params.Meta != nil {
			t.Errorf("%s: _meta %v", m.Params.Name, m.Params.Meta)
		}
	}
	if calls != 4*writers {
		t.Fatalf("the backend read %d tools/call requests, want %d", calls, 4*writers)
	}
}

// BenchmarkToolCallRequest: a traced tools/call's request line as Call
// writes it, against the way it was written before (encoding/json for
// the params, then the SDK's encoding of the JSON-RPC envelope).
func BenchmarkToolCallRequest(b *testing.B) {
	p := &mcp.CallToolParams{
		Meta:      mcp.Meta{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		Name:      "echo",
		Arguments: json.RawMessage(`{"message":"hello from the benchmark"}`),
	}
	id := rawIDPrefix + "12345"
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		jid, _ := jsonrpc.MakeID(id)
		for b.Loop() {
			params, err := marshalled(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: jid, Method: "tools/call", Params: params}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			params, err := toolCallParams(p)
			if err != nil {
				b.Fatal(err)
			}
			_ = append(appendRequest(make([]byte, 0, 64+len(params)), id, "tools/call", params), '\n')
		}
	})
}

// writeRecorder passes writes on to w and keeps a copy of each.
type writeRecorder struct {
	w      io.Writer
	mu     sync.Mutex
	writes []string
}

func (r *writeRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	return r.w.Write(p)
}
