// Package otlp is the built-in OTLP plugin: a telemetry exporter and an
// audit sink. As an exporter, Argus's OpenTelemetry SDK hands it standard
// OTLP export requests; it forwards them unchanged to an OTLP endpoint over
// gRPC or HTTP/protobuf, retrying transient failures with backoff. As an
// audit sink it sends every audit event as an OTLP log record and
// acknowledges it once the collector accepted it (see sinkFactory), so any
// OpenTelemetry Collector pipeline can carry the audit trail.
//
// Configuration follows the OpenTelemetry exporter environment variables,
// which the block's attributes override:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT
//	OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL  (grpc | http/protobuf)
//	OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_HEADERS    (k=v,k2=v2, URL-encoded)
//	OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds)
//
//	telemetry {
//	  enabled = true
//	  exporter "otlp" "collector" {
//	    endpoint = "127.0.0.1:4317"
//	    protocol = "grpc"
//	    insecure = true
//	  }
//	}
//
//	audit {
//	  sink "otlp" "collector" {
//	    endpoint = "127.0.0.1:4317"
//	  }
//	}
package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared/rawproto"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Protocols.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Plugin describes the OTLP exporter and audit sink.
func Plugin() *sdk.Plugin {
	return sdk.New("otlp", Version, sdk.AuditSink(sinkFactory()), sdk.TelemetryExporter(sdk.ExporterFactory{
		Schema: sdk.NewSchema().
			String("endpoint", "OTLP endpoint for both signals: host:port for grpc, a URL for http/protobuf. Default: $OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4317 (grpc) or http://localhost:4318 (http/protobuf).").
			String("traces_endpoint", "Endpoint for traces only (http/protobuf: the full URL, e.g. http://host:4318/v1/traces).").
			String("metrics_endpoint", "Endpoint for metrics only.").
			String("protocol", `"grpc" or "http/protobuf". Default: $OTEL_EXPORTER_OTLP_PROTOCOL, else grpc.`).
			StringMap("headers", "Headers sent with every export (for example an API key).", sdk.Sensitive()).
			Bool("insecure", "Plain-text gRPC (no TLS). Default: $OTEL_EXPORTER_OTLP_INSECURE, else true for endpoints on loopback.").
			Duration("timeout", "Bound on one export attempt. Default: $OTEL_EXPORTER_OTLP_TIMEOUT, else 10s.").
			Duration("max_elapsed", "Give up retrying an export after this long.", sdk.Default("1m")),
		Validate: func(cfg sdk.Config) error {
			_, err := settingsFrom(cfg, os.LookupEnv, sigTraces, sigMetrics)
			return err
		},
		New: func(_ context.Context, cfg sdk.Config) (sdk.Exporter, error) {
			s, err := settingsFrom(cfg, os.LookupEnv, sigTraces, sigMetrics)
			if err != nil {
				return nil, err
			}
			s.MaxElapsed = cfg.Duration("max_elapsed")
			return newExporter(s, cfg.Logger())
		},
	}))
}

// signal is where and how one signal is exported.
type signal struct {
	Protocol string
	Endpoint string // grpc: host:port; http: full URL of the signal's path
	Headers  map[string]string
	Insecure bool
}

type settings struct {
	Traces, Metrics, Logs signal
	Timeout               time.Duration
	// MaxElapsed bounds the retries of one export; zero: until the
	// caller's deadline.
	MaxElapsed time.Duration
}

// Signals settingsFrom resolves: the exporter's two, the audit sink's one.
const (
	sigTraces  = "TRACES"
	sigMetrics = "METRICS"
	sigLogs    = "LOGS"
)

// attrs is the part of sdk.Config settingsFrom reads.
type attrs interface {
	Has(name string) bool
	String(name string) string
	Bool(name string) bool
	Duration(name string) time.Duration
	StringMap(name string) map[string]string
}

// settingsFrom resolves the configuration of the given signals (sigTraces,
// sigMetrics, sigLogs): block attributes, then per-signal environment
// variables, then the general ones, then defaults. The block's schema
// declares <signal>_endpoint for each signal asked for.
func settingsFrom(cfg attrs, env func(string) (string, bool), signals ...string) (settings, error) {
	get := func(attr string, vars ...string) string {
		if attr != "" && cfg.Has(attr) {
			return cfg.String(attr)
		}
		for _, v := range vars {
			if s, ok := env(v); ok && s != "" {
				return s
			}
		}
		return ""
	}
	s := settings{Timeout: 10 * time.Second}
	if cfg.Has("timeout") {
		s.Timeout = cfg.Duration("timeout")
	} else if v, ok := env("OTEL_EXPORTER_OTLP_TIMEOUT"); ok && v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return s, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT=%q is not a positive number of milliseconds", v)
		}
		s.Timeout = time.Duration(ms) * time.Millisecond
	}
	if s.Timeout <= 0 {
		return s, sdk.Errorf("timeout", "must be greater than zero.")
	}
	for _, sig := range []struct {
		name string
		dst  *signal
		path string
	}{{sigTraces, &s.Traces, "/v1/traces"}, {sigMetrics, &s.Metrics, "/v1/metrics"}, {sigLogs, &s.Logs, "/v1/logs"}} {
		if !slices.Contains(signals, sig.name) {
			continue
		}
		lower := strings.ToLower(sig.name)
		proto := get("protocol", "OTEL_EXPORTER_OTLP_"+sig.name+"_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
		if proto == "" {
			proto = ProtocolGRPC
		}
		if proto != ProtocolGRPC && proto != ProtocolHTTP {
			return s, sdk.Errorf("protocol", "%q is not supported; use %q or %q.", proto, ProtocolGRPC, ProtocolHTTP)
		}
		sig.dst.Protocol = proto
		endpoint := get(lower+"_endpoint", "OTEL_EXPORTER_OTLP_"+sig.name+"_ENDPOINT")
		perSignal := endpoint != ""
		if !perSignal {
			endpoint = get("endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT")
		}
		if endpoint == "" {
			endpoint = map[string]string{ProtocolGRPC: "localhost:4317", ProtocolHTTP: "http://localhost:4318"}[proto]
		}
		host, err := normalise(endpoint, proto, sig.path, perSignal)
		if err != nil {
			return s, sdk.Errorf("endpoint", "%v", err)
		}
		sig.dst.Endpoint = host
		headers := map[string]string{}
		for _, v := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_" + sig.name + "_HEADERS"} {
			if raw, ok := env(v); ok {
				h, err := parseHeaders(raw)
				if err != nil {
					return s, fmt.Errorf("%s: %w", v, err)
				}
				for k, val := range h {
					headers[k] = val
				}
			}
		}
		for k, v := range cfg.StringMap("headers") {
			headers[k] = v
		}
		sig.dst.Headers = headers
		switch {
		case cfg.Has("insecure"):
			sig.dst.Insecure = cfg.Bool("insecure")
		default:
			if v, ok := env("OTEL_EXPORTER_OTLP_INSECURE"); ok && v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return s, fmt.Errorf("OTEL_EXPORTER_OTLP_INSECURE=%q is not a boolean", v)
				}
				sig.dst.Insecure = b
			} else {
				sig.dst.Insecure = loopback(host) || strings.HasPrefix(host, "http://")
			}
		}
	}
	return s, nil
}

// normalise turns an endpoint into host:port (grpc) or the signal's URL
// (http/protobuf; a general endpoint gets the signal's path appended, a
// per-signal one is used as given, per the OpenTelemetry specification).
func normalise(endpoint, proto, path string, perSignal bool) (string, error) {
	if proto == ProtocolGRPC {
		if u, err := url.Parse(endpoint); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			return u.Host, nil
		}
		if !strings.Contains(endpoint, ":") {
			return "", fmt.Errorf("%q is not host:port", endpoint)
		}
		return endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http:// or https:// URL", endpoint)
	}
	if !perSignal {
		u.Path = strings.TrimSuffix(u.Path, "/") + path
	}
	return u.String(), nil
}

func loopback(hostport string) bool {
	h := hostport
	if u, err := url.Parse(hostport); err == nil && u.Host != "" {
		h = u.Host
	}
	if i := strings.LastIndex(h, ":"); i >= 0 {
		h = h[:i]
	}
	h = strings.Trim(h, "[]")
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// parseHeaders reads the W3C-baggage-like list of OTEL_EXPORTER_OTLP_HEADERS.
// Errors name the entry by position, never by content: header values are
// secrets.
func parseHeaders(raw string) (map[string]string, error) {
	out := map[string]string{}
	for i, kv := range strings.Split(raw, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d is not key=value", i+1)
		}
		key, err1 := url.QueryUnescape(strings.TrimSpace(k))
		val, err2 := url.QueryUnescape(strings.TrimSpace(v))
		if err1 != nil || err2 != nil || key == "" {
			return nil, fmt.Errorf("entry %d is not a valid URL-encoded header", i+1)
		}
		out[key] = val
	}
	return out, nil
}

// client sends OTLP requests for the signals it was built for, over one
// gRPC connection per endpoint or HTTP, and logs failures sparingly.
type client struct {
	s        settings
	log      sdk.Logger
	conns    map[string]*grpc.ClientConn // by endpoint
	http     *http.Client
	mu       sync.Mutex
	lastWarn time.Time
	failures int
}

// reconnect is how a gRPC connection retries a collector that went away:
// quickly, so deliveries resume within seconds of its return (gRPC's own
// default backs off to two minutes).
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

func newClient(s settings, log sdk.Logger, sigs ...signal) (*client, error) {
	c := &client{s: s, log: log, conns: map[string]*grpc.ClientConn{}, http: &http.Client{}}
	for _, sig := range sigs {
		if sig.Protocol != ProtocolGRPC || c.conns[sig.Endpoint] != nil {
			continue
		}
		creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
		if sig.Insecure {
			creds = insecure.NewCredentials()
		}
		conn, err := grpc.NewClient(sig.Endpoint, grpc.WithTransportCredentials(creds), grpc.WithConnectParams(reconnect))
		if err != nil {
			c.Close(context.Background())
			return nil, fmt.Errorf("otlp: %s: %w", sig.Endpoint, err)
		}
		c.conns[sig.Endpoint] = conn
	}
	return c, nil
}

// exporter forwards export requests.
type exporter struct{ *client }

func newExporter(s settings, log sdk.Logger) (*exporter, error) {
	c, err := newClient(s, log, s.Traces, s.Metrics)
	if err != nil {
		return nil, err
	}
	log.Info("exporting OTLP", "traces", s.Traces.Protocol+" "+s.Traces.Endpoint, "metrics", s.Metrics.Protocol+" "+s.Metrics.Endpoint)
	return &exporter{c}, nil
}

func (e *exporter) ExportTraces(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) error {
	return e.export(ctx, "traces", e.s.Traces, encode(req), nil, func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := coltracepb.NewTraceServiceClient(conn).Export(ctx, req)
		return err
	})
}

// ExportTracesRaw forwards a trace export request as the host encoded it
// (sdk.RawTraceExporter): the plugin neither decodes nor re-encodes the
// spans, which was most of its work per span.
func (e *exporter) ExportTracesRaw(ctx context.Context, req []byte) error {
	return e.export(ctx, "traces", e.s.Traces, func() ([]byte, error) { return req, nil }, nil, func(ctx context.Context, conn *grpc.ClientConn) error {
		return conn.Invoke(ctx, coltracepb.TraceService_Export_FullMethodName, &rawproto.Message{Bytes: req},
			new(coltracepb.ExportTraceServiceResponse), grpc.ForceCodecV2(rawproto.Codec()))
	})
}

var _ sdk.RawTraceExporter = (*exporter)(nil)

func (e *exporter) ExportMetrics(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) error {
	return e.export(ctx, "metrics", e.s.Metrics, encode(req), nil, func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := colmetricspb.NewMetricsServiceClient(conn).Export(ctx, req)
		return err
	})
}

// encode is the protobuf encoding of msg, for an export over HTTP.
func encode(msg proto.Message) func() ([]byte, error) {
	return func() ([]byte, error) { return proto.Marshal(msg) }
}

// export sends one request, retrying transient failures with jittered
// exponential backoff until MaxElapsed (if set) or a second before ctx's
// deadline, so the caller hears the last real error rather than its own
// timeout. Over HTTP the body is body's (called once) and a successful
// reply is decoded into resp unless it is nil; over gRPC viaGRPC sends
// the request and keeps the reply itself.
func (e *client) export(ctx context.Context, what string, sig signal, body func() ([]byte, error), resp proto.Message, viaGRPC func(context.Context, *grpc.ClientConn) error) error {
	var encoded []byte
	if sig.Protocol != ProtocolGRPC {
		b, err := body()
		if err != nil {
			return fmt.Errorf("otlp: encoding the %s request: %w", what, err)
		}
		encoded = b
	}
	deadline := time.Now().Add(e.s.MaxElapsed)
	if e.s.MaxElapsed <= 0 {
		deadline = time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	if d, ok := ctx.Deadline(); ok && d.Add(-time.Second).Before(deadline) {
		deadline = d.Add(-time.Second)
	}
	delay := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, e.s.Timeout)
		var err error
		if sig.Protocol == ProtocolGRPC {
			if len(sig.Headers) > 0 {
				actx = metadata.NewOutgoingContext(actx, metadata.New(sig.Headers))
			}
			err = viaGRPC(actx, e.conns[sig.Endpoint])
		} else {
			err = e.post(actx, sig, encoded, resp)
		}
		cancel()
		if err == nil {
			e.recovered(what)
			return nil
		}
		if !retryable(err) || time.Now().Add(delay).After(deadline) || ctx.Err() != nil {
			e.warn(what, sig.Endpoint, err)
			return err
		}
		select {
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		case <-ctx.Done():
			e.warn(what, sig.Endpoint, ctx.Err())
			return ctx.Err()
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// httpError is a failed HTTP export.
type httpError struct {
	code int
	body string
}

func (h *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", h.code, h.body) }

func (e *client) post(ctx context.Context, sig signal, body []byte, into proto.Message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sig.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range sig.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &httpError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || into == nil {
		return nil // accepted: the status says so
	}
	if err := proto.Unmarshal(b, into); err != nil {
		e.log.Debug("OTLP reply is not protobuf; taken as accepted", "endpoint", sig.Endpoint, "error", err)
	}
	return nil
}

func retryable(err error) bool {
	var he *httpError
	if errors.As(err, &he) {
		return he.code == 429 || he.code == 502 || he.code == 503 || he.code == 504
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
			return true
		case codes.ResourceExhausted:
			// Only when the server says when to come back (OTLP/gRPC):
			// otherwise it is a request over the receiver's size limit,
			// which no retry will get through, and retrying it held
			// every later batch for the whole export timeout.
			return hasRetryInfo(s)
		}
		return false
	}
	return true // network errors
}

// warn logs export failures at most every 30s (with a count), so a
// collector that is down does not flood the log.
func (e *client) warn(what, endpoint string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures++
	if time.Since(e.lastWarn) < 30*time.Second {
		return
	}
	e.log.Warn("OTLP export failed", "signal", what, "endpoint", endpoint, "error", err, "failures", e.failures)
	e.lastWarn = time.Now()
}

func (e *client) recovered(what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures > 0 {
		e.log.Info("OTLP export recovered", "signal", what, "failed_before", e.failures)
		e.failures = 0
		e.lastWarn = time.Time{}
	}
}

// Close releases the connections.
func (e *client) Close(context.Context) error {
	var errs []error
	for _, c := range e.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// hasRetryInfo tells whether a gRPC status carries a RetryInfo detail.
func hasRetryInfo(s *status.Status) bool {
	for _, d := range s.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return true
		}
	}
	return false
}
