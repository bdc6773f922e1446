package transport

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/argusmcp/argus/host/config"
)

// Reasons a new client session is refused, as reported in the error message
// and the argus.sessions.refused metric.
const (
	LimitMaxSessions        = "max_sessions"
	LimitMaxSessionsPerIP   = "max_sessions_per_ip"
	LimitMaxSessionsPerUser = "max_sessions_per_user"
)

var limitReasons = []string{LimitMaxSessions, LimitMaxSessionsPerIP, LimitMaxSessionsPerUser}

// SessionLimits counts open stateful client sessions, in total, per client
// address and per user, and refuses a new one when a limit is reached. A
// session's slot is reserved before the SDK creates it and released when
// the session closes (DELETE, session_timeout, shutdown) or was never
// created. Safe for concurrent use; a zero limit is no limit.
type SessionLimits struct {
	max, perIP, perUser int

	mu      sync.Mutex
	open    int
	byIP    map[string]int
	byUser  map[string]int
	refused [3]atomic.Int64 // by index in limitReasons
	warned  atomic.Int64    // unix nanoseconds of the last logged refusal
}

// warnInterval spaces the log lines about refused sessions: under a flood
// of them one line in a while says enough; the metric counts them all.
const warnInterval = 10 * time.Second

// shouldWarn reports whether a refusal is to be logged now.
func (l *SessionLimits) shouldWarn() bool {
	now, last := time.Now().UnixNano(), l.warned.Load()
	return now-last >= int64(warnInterval) && l.warned.CompareAndSwap(last, now)
}

// NewSessionLimits returns the limits of s (MaxSessions,
// MaxSessionsPerIP, MaxSessionsPerUser).
func NewSessionLimits(s config.Server) *SessionLimits {
	return &SessionLimits{max: s.MaxSessions, perIP: s.MaxSessionsPerIP, perUser: s.MaxSessionsPerUser,
		byIP: map[string]int{}, byUser: map[string]int{}}
}

// Open is the number of open (or opening) client sessions.
func (l *SessionLimits) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused returns how many sessions each limit has refused, by limit name
// (LimitMaxSessions, …).
func (l *SessionLimits) Refused() map[string]int64 {
	out := make(map[string]int64, len(limitReasons))
	for i, r := range limitReasons {
		out[r] = l.refused[i].Load()
	}
	return out
}

// sessionSlot is one reserved session; release is idempotent.
type sessionSlot struct {
	l        *SessionLimits
	ip, user string
	once     sync.Once
}

// reserve takes a slot for a session of user from ip, or returns the name
// of the limit that is reached and the HTTP status to answer with.
func (l *SessionLimits) reserve(ip, user string) (*sessionSlot, string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reason, status := "", 0
	switch {
	case l.max > 0 && l.open >= l.max:
		reason, status = LimitMaxSessions, http.StatusServiceUnavailable
	case l.perIP > 0 && l.byIP[ip] >= l.perIP:
		reason, status = LimitMaxSessionsPerIP, http.StatusTooManyRequests
	case user != "" && l.perUser > 0 && l.byUser[user] >= l.perUser:
		reason, status = LimitMaxSessionsPerUser, http.StatusTooManyRequests
	}
	if reason != "" {
		for i, r := range limitReasons {
			if r == reason {
				l.refused[i].Add(1)
			}
		}
		return nil, reason, status
	}
	l.open++
	l.byIP[ip]++
	if user != "" {
		l.byUser[user]++
	}
	return &sessionSlot{l: l, ip: ip, user: user}, "", 0
}

func (s *sessionSlot) release() {
	s.once.Do(func() {
		l := s.l
		l.mu.Lock()
		defer l.mu.Unlock()
		l.open--
		decr(l.byIP, s.ip)
		if s.user != "" {
			decr(l.byUser, s.user)
		}
	})
}

func decr(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

// limitOf is the configured value of the named limit, for messages.
func (l *SessionLimits) limitOf(reason string) int {
	switch reason {
	case LimitMaxSessionsPerIP:
		return l.perIP
	case LimitMaxSessionsPerUser:
		return l.perUser
	}
	return l.max
}

func (l *SessionLimits) refusal(reason string) string {
	return fmt.Sprintf("too many client sessions: server.%s (%d) reached", reason, l.limitOf(reason))
}

// RegisterMetrics reports the open sessions (gauge argus.sessions.open) and
// the refused ones by limit (counter argus.sessions.refused, attribute
// limit) to m.
func (l *SessionLimits) RegisterMetrics(m metric.Meter) error {
	open, err := m.Int64ObservableGauge("argus.sessions.open",
		metric.WithDescription("Open stateful client sessions."), metric.WithUnit("{session}"))
	if err != nil {
		return err
	}
	refused, err := m.Int64ObservableCounter("argus.sessions.refused",
		metric.WithDescription("Client sessions refused because a limit was reached, by limit."), metric.WithUnit("{session}"))
	if err != nil {
		return err
	}
	attrs := make([]metric.ObserveOption, len(limitReasons))
	for i, r := range limitReasons {
		attrs[i] = metric.WithAttributes(attribute.String("limit", r))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(open, int64(l.Open()))
		for i := range limitReasons {
			o.ObserveInt64(refused, l.refused[i].Load(), attrs[i])
		}
		return nil
	}, open, refused)
	return err
}
