package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A transport error naming a backend URL with a key in its query keeps
// the key out of its text; what it wraps is still found.
func TestRedactURL(t *testing.T) {
	_, err := http.Get("http://user:pw-Zx81@127.0.0.1:1/mcp?api_key=QUERYKEY-4711&format=json")
	if err == nil {
		t.Fatal("a request to port 1 succeeded")
	}
	wrapped := fmt.Errorf("calling %q: %w", "tools/call", err)
	got := RedactURL(wrapped)
	for _, leak := range []string{"QUERYKEY-4711", "pw-Zx81", "json"} {
		if strings.Contains(got.Error(), leak) {
			t.Errorf("%q in %q", leak, got)
		}
	}
	if !strings.Contains(got.Error(), "api_key=%5BREDACTED%5D") || !strings.HasPrefix(got.Error(), `calling "tools/call": Get "http://user:***@127.0.0.1:1/mcp?`) {
		t.Errorf("redacted error %q", got)
	}
	if !errors.Is(got, err) {
		t.Error("the redacted error does not wrap the original")
	}
	plain := errors.New("no URL here")
	if RedactURL(plain) != plain || RedactURL(nil) != nil || RedactURL(context.Canceled) != context.Canceled {
		t.Error("an error without a URL was changed")
	}
}
