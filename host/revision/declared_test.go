package revision

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// decoded is what a request's _meta value looks like to Argus: JSON
// decoded into any.
func decoded(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDeclaredCapabilities: each distinct declaration is decoded once,
// whatever the order of its members and whichever request's map carries
// it; a different one is decoded apart; one that does not decode is not
// kept; and raw is the declaration as encoding/json writes it.
func TestDeclaredCapabilities(t *testing.T) {
	var d Declared
	calls := 0
	decode := func(caps *mcp.ClientCapabilities) func() *mcp.ClientCapabilities {
		return func() *mcp.ClientCapabilities { calls++; return caps }
	}
	a1, b1 := &mcp.ClientCapabilities{}, &mcp.ClientCapabilities{}
	first := decoded(t, `{"roots":{"listChanged":true},"sampling":{},"x":[1,"<a>",null,false]}`)
	got, raw := d.Capabilities(first, decode(a1))
	if got != a1 || calls != 1 {
		t.Fatalf("first: got %p (want %p), %d decodes", got, a1, calls)
	}
	if want, _ := json.Marshal(first); string(raw) != string(want) {
		t.Fatalf("raw %s, want %s", raw, want)
	}
	// The same declaration, members in another order, in a map of its own.
	again := decoded(t, `{"x":[1,"<a>",null,false],"sampling":{},"roots":{"listChanged":true}}`)
	if got, raw2 := d.Capabilities(again, decode(b1)); got != a1 || calls != 1 || string(raw2) != string(raw) {
		t.Fatalf("again: got %p (want the first's %p), %d decodes, raw %s", got, a1, calls, raw2)
	}
	// Differences anywhere make another declaration.
	for i, s := range []string{
		`{"roots":{"listChanged":false},"sampling":{},"x":[1,"<a>",null,false]}`,
		`{"roots":{"listChanged":true},"sampling":{},"x":[1,"<a>",null]}`,
		`{"roots":{"listChanged":true},"sampling":{},"x":[1,"<b>",null,false]}`,
		`{"roots":{"listChanged":true},"sampling":{},"x":[2,"<a>",null,false]}`,
		`{"roots":{"listChanged":true},"sampling":{},"y":[1,"<a>",null,false]}`,
		`{"roots":{"listChanged":true},"sampling":{}}`,
		`{"roots":{"listChanged":true},"sampling":null,"x":[1,"<a>",null,false]}`,
		`{"roots":{"listChanged":true},"sampling":[],"x":[1,"<a>",null,false]}`,
	} {
		other := &mcp.ClientCapabilities{}
		if got, _ := d.Capabilities(decoded(t, s), decode(other)); got != other || calls != 2+i {
			t.Fatalf("%s: got %p (want its own %p), %d decodes", s, got, other, calls)
		}
	}
	// A declaration the SDK does not take is refused every time.
	calls = 0
	for range 2 {
		if got, raw := d.Capabilities("not an object", decode(nil)); got != nil || raw != nil {
			t.Fatalf("refused declaration gave %v %s", got, raw)
		}
	}
	if calls != 2 {
		t.Fatalf("a refused declaration was kept: %d decodes of 2", calls)
	}
	// A value of a type JSON decoding does not make is decoded every time.
	calls = 0
	for range 2 {
		d.Capabilities(map[string]any{"n": 1}, decode(a1))
	}
	if calls != 2 {
		t.Fatalf("an unhashable declaration was kept: %d decodes of 2", calls)
	}
}

// TestDeclaredClientInfo: an implementation decodes as the SDK's
// stateless handler decodes it, null and other types refused.
func TestDeclaredClientInfo(t *testing.T) {
	var d Declared
	info, ok := d.ClientInfo(decoded(t, `{"name":"agent","version":"1.2","title":"An agent"}`))
	if !ok || info.Name != "agent" || info.Version != "1.2" || info.Title != "An agent" {
		t.Fatalf("got %+v %v", info, ok)
	}
	if again, _ := d.ClientInfo(decoded(t, `{"version":"1.2","title":"An agent","name":"agent"}`)); again != info {
		t.Fatal("the same client info was decoded again")
	}
	for _, s := range []string{`null`, `"agent"`, `7`, `[{"name":"agent"}]`, `{"name":7}`} {
		if got, ok := d.ClientInfo(decoded(t, s)); ok || got != nil {
			t.Errorf("%s: got %+v, want refused", s, got)
		}
	}
}

// TestDeclaredIsBounded: declarations that all differ keep at most
// declaredMax of them, and each is still answered right.
func TestDeclaredIsBounded(t *testing.T) {
	var d Declared
	for i := range 3 * declaredMax {
		v := map[string]any{"experimental": map[string]any{"n": float64(i)}}
		want := &mcp.ClientCapabilities{}
		if got, raw := d.Capabilities(v, func() *mcp.ClientCapabilities { return want }); got != want || string(raw) != fmt.Sprintf(`{"experimental":{"n":%d}}`, i) {
			t.Fatalf("declaration %d: got %p (want %p), raw %s", i, got, want, raw)
		}
		kept := 0
		d.caps.m.Range(func(any, any) bool { kept++; return true })
		if kept > declaredMax {
			t.Fatalf("after %d declarations, %d kept (bound %d)", i+1, kept, declaredMax)
		}
	}
}

// TestDeclaredHashCollision: a value found under its hash but not equal
// to the one kept there is decoded for itself.
func TestDeclaredHashCollision(t *testing.T) {
	var d Declared
	v := decoded(t, `{"roots":{}}`)
	h, ok := hashValue(v)
	if !ok {
		t.Fatal("not hashed")
	}
	kept := &mcp.ClientCapabilities{}
	d.caps.m.Store(h, &memoEntry[declaredCaps]{key: decoded(t, `{"sampling":{}}`), val: declaredCaps{caps: kept, raw: json.RawMessage(`{"sampling":{}}`)}})
	own := &mcp.ClientCapabilities{}
	if got, raw := d.Capabilities(v, func() *mcp.ClientCapabilities { return own }); got != own || string(raw) != `{"roots":{}}` {
		t.Fatalf("got %p %s, want its own %p {\"roots\":{}}", got, raw, own)
	}
}

func TestSameValue(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{`null`, `null`, true},
		{`null`, `false`, false},
		{`true`, `true`, true},
		{`true`, `false`, false},
		{`1`, `1.0`, true},
		{`1`, `"1"`, false},
		{`""`, `""`, true},
		{`[]`, `{}`, false},
		{`[1,[2]]`, `[1,[2]]`, true},
		{`[1,[2]]`, `[1,[3]]`, false},
		{`{"a":1,"b":{"c":[]}}`, `{"b":{"c":[]},"a":1}`, true},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`{"a":null}`, `{"b":null}`, false},
	} {
		a, b := decoded(t, tc.a), decoded(t, tc.b)
		if got := sameValue(a, b); got != tc.same {
			t.Errorf("sameValue(%s, %s) = %v", tc.a, tc.b, got)
		}
		ha, _ := hashValue(a)
		hb, _ := hashValue(b)
		if tc.same && ha != hb {
			t.Errorf("%s and %s are equal but hash apart", tc.a, tc.b)
		}
	}
}

// TestDeclaredConcurrent: many requests declaring a few values at once
// (run with -race).
func TestDeclaredConcurrent(t *testing.T) {
	var d Declared
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				v := map[string]any{"experimental": map[string]any{"n": float64((g + i) % 5)}}
				caps, _ := d.Capabilities(v, func() *mcp.ClientCapabilities {
					return &mcp.ClientCapabilities{Experimental: map[string]any{"n": float64((g + i) % 5)}}
				})
				if caps.Experimental["n"] != float64((g+i)%5) {
					t.Errorf("declaration %d answered with %v", (g+i)%5, caps.Experimental)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestDeclaredKeepsNoLargeValue: a declaration larger than
// declaredMaxBytes (a client can send megabytes of experimental
// capabilities) is decoded every time and never kept: 256 kept entries of
// such values held gigabytes.
func TestDeclaredKeepsNoLargeValue(t *testing.T) {
	var d Declared
	for _, v := range []any{
		map[string]any{"experimental": map[string]any{"x": strings.Repeat("x", declaredMaxBytes)}},
		map[string]any{"experimental": map[string]any{strings.Repeat("k", declaredMaxBytes): true}},
		map[string]any{"experimental": map[string]any{"many": make([]any, declaredMaxBytes)}},
	} {
		calls := 0
		for range 2 {
			if caps, _ := d.Capabilities(v, func() *mcp.ClientCapabilities { calls++; return &mcp.ClientCapabilities{} }); caps == nil {
				t.Fatal("a large declaration was refused")
			}
		}
		if calls != 2 {
			t.Errorf("a large declaration was kept: %d decodes of 2", calls)
		}
	}
	kept := 0
	d.caps.m.Range(func(any, any) bool { kept++; return true })
	if kept != 0 {
		t.Errorf("%d large declarations kept", kept)
	}
	// One just under the bound is kept.
	small := map[string]any{"experimental": map[string]any{"x": strings.Repeat("x", declaredMaxBytes/2)}}
	calls := 0
	for range 2 {
		d.Capabilities(small, func() *mcp.ClientCapabilities { calls++; return &mcp.ClientCapabilities{} })
	}
	if calls != 1 {
		t.Errorf("a declaration of %d bytes was decoded %d times, want once", declaredMaxBytes/2, calls)
	}
}
