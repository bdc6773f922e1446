// Package query selects audit events by the fields operators search on:
// user, backend, capability, outcome and time. One Filter serves the
// management API's in-memory ring (GET /manage/v1/audit) and
// `argus audit query` over files on disk, so both read the same query
// string the same way.
package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// DefaultLimit is the number of events returned when a query names none;
// MaxLimit is the most a query may ask for.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Filter selects events. A zero field matches everything. User, Backend
// and Capability match exactly, or as a glob (path.Match syntax: *, ?,
// [..]) when they contain a glob character. Status matches the outcome's
// status ("success", "error") or its error type ("denied",
// "rate_limited", "timeout", ...). Since and Until bound the event's
// timestamp (Since inclusive, Until exclusive).
type Filter struct {
	User       string
	Backend    string
	Capability string
	Status     string
	Since      time.Time
	Until      time.Time
	Limit      int // most recent events to return; DefaultLimit when 0
}

// Parse reads a filter from a query string: user, backend, capability,
// status, since and until (RFC 3339 timestamps, or a duration such as
// "15m" meaning that long before now), and limit (1..MaxLimit). Unknown
// parameters are an error, so a misspelt filter does not silently match
// everything, and so is a filter given more than once (reading only one
// of its values would widen or narrow the match without a word).
func Parse(v url.Values, now time.Time) (Filter, error) {
	var f Filter
	for k, vs := range v {
		switch k {
		case "user", "backend", "capability", "status", "since", "until", "limit":
		default:
			return f, fmt.Errorf("unknown filter %q (known: user, backend, capability, status, since, until, limit)", k)
		}
		if len(vs) > 1 {
			return f, fmt.Errorf("filter %q given %d times: give it once (a glob matches several values)", k, len(vs))
		}
	}
	f.User, f.Backend, f.Capability, f.Status = v.Get("user"), v.Get("backend"), v.Get("capability"), v.Get("status")
	for _, p := range []string{f.User, f.Backend, f.Capability} {
		if _, err := path.Match(p, ""); err != nil {
			return f, fmt.Errorf("bad pattern %q: %w", p, err)
		}
	}
	var err error
	if f.Since, err = parseTime(v.Get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseTime(v.Get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return f, fmt.Errorf("limit %q: want a whole number from 1 to %d", s, MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// parseTime reads an RFC 3339 timestamp, or a duration ("90s", "15m",
// "2h") counted back from now. The empty string is the zero time.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("duration %q is negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 15m", s)
	}
	return t, nil
}

// Max is the number of events the filter asks for.
func (f Filter) Max() int {
	if f.Limit <= 0 {
		return DefaultLimit
	}
	return f.Limit
}

// Fields are the parts of an audit event a Filter looks at.
type Fields struct {
	Time       time.Time
	User       string
	Backend    string
	Capability string
	Status     string
	ErrorType  string
}

// record is the JSON shape of the fields, as written by every audit sink.
type record struct {
	Timestamp string `json:"timestamp"`
	Source    struct {
		UserID *string `json:"user_id"`
	} `json:"source"`
	Target struct {
		Backend        *string `json:"backend"`
		CapabilityName string  `json:"capability_name"`
	} `json:"target"`
	Outcome struct {
		Status    string  `json:"status"`
		ErrorType *string `json:"error_type"`
	} `json:"outcome"`
}

// Decode reads the filtered fields of one audit event (a JSONL line, with
// or without its integrity block).
func Decode(line []byte) (Fields, error) {
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return Fields{}, fmt.Errorf("not an audit event: %w", err)
	}
	if r.Timestamp == "" {
		return Fields{}, errors.New("not an audit event: no timestamp")
	}
	t, err := time.Parse(time.RFC3339Nano, r.Timestamp)
	if err != nil {
		return Fields{}, fmt.Errorf("audit event timestamp %q: %w", r.Timestamp, err)
	}
	return Fields{Time: t, User: deref(r.Source.UserID), Backend: deref(r.Target.Backend),
		Capability: r.Target.CapabilityName, Status: r.Outcome.Status, ErrorType: deref(r.Outcome.ErrorType)}, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Match reports whether an event's fields pass the filter.
func (f Filter) Match(e Fields) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if f.Status != "" && f.Status != e.Status && f.Status != e.ErrorType {
		return false
	}
	return match(f.User, e.User) && match(f.Backend, e.Backend) && match(f.Capability, e.Capability)
}

func match(pattern, v string) bool {
	if pattern == "" {
		return true
	}
	if !strings.ContainsAny(pattern, `*?[\`) {
		return pattern == v
	}
	ok, _ := path.Match(pattern, v)
	return ok
}
