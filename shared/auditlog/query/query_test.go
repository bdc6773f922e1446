package query

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

const line = `{"timestamp":"2026-11-30T10:00:00.5Z","event_type":"mcp_operation","event_id":"e1",` +
	`"source":{"session_id":"s","client_ip":"127.0.0.1","user_id":"alice"},` +
	`"target":{"backend":"github","method":"tools/call","capability_name":"github__create_issue","original_name":"create_issue"},` +
	`"outcome":{"status":"error","latency_ms":1.5,"error":"no","error_type":"denied"},"metadata":{}}`

func TestMatch(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 5, 0, 0, time.UTC)
	ev, err := Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"", true},
		{"user=alice", true},
		{"user=bob", false},
		{"user=al*", true},
		{"backend=github&capability=github__*", true},
		{"capability=create_issue", false},
		{"status=error", true},
		{"status=denied", true},
		{"status=success", false},
		{"since=10m", true},
		{"since=1m", false},
		{"since=2026-11-30T10:00:00.5Z", true},
		{"until=2026-11-30T10:00:00.5Z", false},
		{"until=2026-11-30T10:00:01Z&user=alice&status=error", true},
	} {
		v, _ := url.ParseQuery(tc.q)
		f, err := Parse(v, now)
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		if got := f.Match(ev); got != tc.want {
			t.Errorf("%q: match = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for q, want := range map[string]string{
		"usr=alice":       `unknown filter "usr"`,
		"limit=0":         "limit",
		"limit=x":         "limit",
		"limit=10001":     "limit",
		"since=yesterday": "neither an RFC 3339 time",
		"since=-5m":       "negative",
		"user=[":          "bad pattern",
		"user=a&user=b":   `filter "user" given 2 times`,
	} {
		v, _ := url.ParseQuery(q)
		if _, err := Parse(v, time.Now()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", q, err, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"timestamp":"not a time"}`, `{"timestamp":5}`} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q): no error", in)
		}
	}
	if _, err := Decode([]byte(`{"event_type":"mcp_operation"}`)); err == nil || err.Error() != "not an audit event: no timestamp" {
		t.Errorf("Decode without a timestamp: %v", err)
	}
	if f, _ := Parse(url.Values{}, time.Now()); f.Max() != DefaultLimit {
		t.Errorf("default limit %d", f.Max())
	}
}
