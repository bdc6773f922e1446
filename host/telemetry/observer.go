package telemetry

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/request"
)

// Observer returns the request.Observer that traces and measures calls.
func (t *Telemetry) Observer() request.Observer { return observer{t} }

type observer struct{ t *Telemetry }

// The span kinds' start options, made once: each call would box them
// anew.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// SpanName is the SERVER span's name: mcp.<method>.<capability> for the
// three operations, the MCP method otherwise (semantic conventions).
func SpanName(c *request.Call) string {
	if m, ok := request.AuditedName(c.Method); ok && c.Capability != "" {
		return request.Clip("mcp."+m+"."+c.Capability, maxNameLength)
	}
	return request.Clip(c.Method, maxNameLength)
}

// maxNameLength bounds a span's name (bytes): it holds a client's text.
const maxNameLength = 256

// recordError records err on span as the SDK's RecordError does, with
// its message cut to MaxAttributeLength (the SDK bounds span attributes
// but not an event's, and an error's text may hold a client's), and
// returns that message for the span's status.
func recordError(span trace.Span, err error, at trace.EventOption) string {
	msg := err.Error()
	if len(msg) <= MaxAttributeLength {
		span.RecordError(err, at)
		return msg
	}
	msg = request.Clip(msg, MaxAttributeLength)
	span.AddEvent("exception", at, trace.WithAttributes(
		attribute.String("exception.type", errorType(err)),
		attribute.String("exception.message", msg)))
	return msg
}

// errorType names err's type as the SDK's RecordError does.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

func (o observer) Begin(ctx context.Context, c *request.Call) context.Context {
	t := o.t
	// The client's trace context: HTTP headers first, then params._meta,
	// which wins (SEP-414).
	if c.Header != nil {
		ctx = t.propagator.Extract(ctx, headerCarrier(c.Header))
	}
	if meta := request.Meta(c.Params); hasTraceContext(meta) {
		ctx = t.propagator.Extract(ctx, metaCarrier(meta))
	}
	// The span's attributes are all set at End, in one go: what Begin
	// knows of the call does not change on the way, and the backend and
	// the outcome are only known then. Set at the start as well, they
	// would be copied twice more, and the slice grown again at End, for
	// every call (about 1.3 KB; no sampler Argus configures reads them).
	ctx, _ = t.tracer.Start(ctx, SpanName(c), serverKind)
	c.BackendHook = o.backendCall
	return ctx
}

// setSpanAttrs sets all of the SERVER span's attributes, at its end.
func setSpanAttrs(span trace.Span, c *request.Call, errType string) {
	if !span.IsRecording() {
		return
	}
	buf := getAttrs()
	defer putAttrs(buf)
	attrs := appendSpanAttrs(*buf, c)
	if c.Round > 0 {
		// One span per round of a multi-round-trip call (SEP-2322), tied
		// together by the request ID of the round that began it.
		attrs = append(attrs, attribute.Int("mcp.argus.round", c.Round), attribute.String("mcp.argus.logical_request_id", c.LogicalID))
	}
	if c.Backend != "" {
		attrs = append(attrs, attribute.String("mcp.backend", c.Backend))
	}
	if errType != "" {
		attrs = append(attrs, attribute.String("error.type", errType))
	}
	span.SetAttributes(attrs...)
	*buf = attrs
}

// appendSpanAttrs appends the SERVER span's attributes of what the call
// is; End adds its outcome's.
func appendSpanAttrs(attrs []attribute.KeyValue, c *request.Call) []attribute.KeyValue {
	attrs = append(attrs,
		attribute.String("mcp.method.name", c.Method),
		attribute.String("mcp.request_id", c.ID),
	)
	if m, ok := request.AuditedName(c.Method); ok {
		attrs = append(attrs, attribute.String("mcp.method", m), attribute.String("mcp.capability", c.Capability))
	} else {
		attrs = append(attrs, attribute.String("mcp.method", c.Method))
	}
	attrs = appendTargetAttr(attrs, c.Method, c.Capability)
	if id := c.RPCIDText(); id != "" {
		attrs = append(attrs, attribute.String("jsonrpc.request.id", id))
	}
	if c.SessionID != "" {
		attrs = append(attrs, attribute.String("mcp.session.id", c.SessionID))
	}
	if c.ProtocolVersion != "" {
		attrs = append(attrs, attribute.String("mcp.protocol.version", c.ProtocolVersion))
	}
	if c.Transport == request.TransportStdio {
		attrs = append(attrs, attribute.String("network.transport", "pipe"))
	} else {
		attrs = append(attrs, attribute.String("network.transport", "tcp"))
	}
	if c.ClientIP != "" {
		attrs = append(attrs, attribute.String("client.address", c.ClientIP))
	}
	if c.UserID != "" {
		attrs = append(attrs, attribute.String("enduser.id", c.UserID))
	}
	return attrs
}

// appendTargetAttr appends the attribute naming what a tools/call,
// prompts/get or resources/read targets, if it has a name.
func appendTargetAttr(attrs []attribute.KeyValue, method, capability string) []attribute.KeyValue {
	if capability == "" {
		return attrs
	}
	switch method {
	case "tools/call":
		return append(attrs, attribute.String("gen_ai.tool.name", capability))
	case "prompts/get":
		return append(attrs, attribute.String("gen_ai.prompt.name", capability))
	case "resources/read":
		return append(attrs, attribute.String("mcp.resource.uri", capability))
	}
	return attrs
}

// EndsLate makes the observer a request.LateObserver: on the lean path its
// End runs once the client has its answer, ending the span at the time
// the call ended (Call.Start plus Call.Duration), as it would have then.
func (o observer) EndsLate() {}

func (o observer) End(ctx context.Context, c *request.Call) {
	span := trace.SpanFromContext(ctx)
	errType := ErrorType(c.Outcome, c.Err)
	setSpanAttrs(span, c, errType)
	at := trace.WithTimestamp(c.Start.Add(c.Duration))
	if c.Round > 0 {
		switch {
		case c.InputRequired:
			span.AddEvent("input_required", at, trace.WithAttributes(attribute.Int("mcp.argus.round", c.Round)))
		case c.Unclaimed:
			// The client never retried: this span stands for the round
			// that never came.
			span.AddEvent("unclaimed", at, trace.WithAttributes(attribute.Int("mcp.argus.rounds", c.Rounds)))
		default:
			span.AddEvent("complete", at, trace.WithAttributes(attribute.Int("mcp.argus.rounds", c.Rounds)))
		}
	}
	if errType != "" {
		msg := errType
		if c.Err != nil {
			msg = recordError(span, c.Err, at)
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End(at)

	secs := c.Duration.Seconds()
	m := o.t.requests
	// Only names the catalogue routed become metric labels: a client can
	// send any name, and every distinct label set is a series kept forever.
	capability := c.Capability
	if c.Backend == "" && capability != "" {
		capability = unrouted
	}
	a := o.t.attrs.server(metricMethod(c.Method), capability, c.Backend, errType)
	m.requests.Add(ctx, 1, a.requests)
	m.duration.Record(ctx, secs, a.duration)
	m.serverOp.Record(ctx, secs, a.semconv)
}

// unrouted stands for capability names no backend owns, in metrics.
const unrouted = "_unrouted"

// otherMethod stands for method names MCP does not define, in metrics:
// a request refused before it is served (no credentials) is still
// measured, and its method is whatever the client wrote.
const otherMethod = "_other"

// mcpMethods are the request and notification methods of MCP's
// revisions a client sends; any other is counted as otherMethod.
var mcpMethods = map[string]bool{
	"initialize": true, "ping": true, "server/discover": true, "subscriptions/listen": true,
	"tools/list": true, "tools/call": true,
	"resources/list": true, "resources/templates/list": true, "resources/read": true,
	"resources/subscribe": true, "resources/unsubscribe": true,
	"prompts/list": true, "prompts/get": true, "completion/complete": true, "logging/setLevel": true,
	"tasks/get": true, "tasks/list": true, "tasks/cancel": true, "tasks/result": true, "tasks/update": true,
	"notifications/initialized": true, "notifications/cancelled": true, "notifications/progress": true,
	"notifications/roots/list_changed": true,
}

// metricMethod is method as a metric label: itself if MCP defines it.
func metricMethod(method string) string {
	if mcpMethods[method] {
		return method
	}
	return otherMethod
}

// attrCache keeps the metric attribute sets of each (method, capability,
// backend, error type) seen: building a set sorts and allocates, and the
// combinations are bounded by the catalogue (unrouted names collapse into
// one).
type attrCache struct{ m sync.Map }

type serverAttrs struct {
	requests metric.AddOption
	duration metric.RecordOption
	semconv  metric.RecordOption
}

type attrKey struct{ method, capability, backend, errType string }

func (ac *attrCache) server(method, capability, backend, errType string) *serverAttrs {
	k := attrKey{method, capability, backend, errType}
	if v, ok := ac.m.Load(k); ok {
		return v.(*serverAttrs)
	}
	tool := capability
	if tool == "" {
		tool = method
	}
	semconv := []attribute.KeyValue{attribute.String("mcp.method.name", method)}
	semconv = appendTargetAttr(semconv, method, capability)
	if errType != "" {
		semconv = append(semconv, attribute.String("error.type", errType))
	}
	a := &serverAttrs{
		requests: metric.WithAttributeSet(attribute.NewSet(attribute.String("tool_name", tool), attribute.String("backend", backend), attribute.Bool("success", errType == ""))),
		duration: metric.WithAttributeSet(attribute.NewSet(attribute.String("tool_name", tool), attribute.String("backend", backend))),
		semconv:  metric.WithAttributeSet(attribute.NewSet(semconv...)),
	}
	v, _ := ac.m.LoadOrStore(k, a)
	return v.(*serverAttrs)
}

func (ac *attrCache) client(method, name, errType string) metric.RecordOption {
	k := attrKey{"client:" + method, name, "", errType}
	if v, ok := ac.m.Load(k); ok {
		return v.(metric.RecordOption)
	}
	semconv := []attribute.KeyValue{attribute.String("mcp.method.name", method)}
	semconv = appendTargetAttr(semconv, method, name)
	if errType != "" {
		semconv = append(semconv, attribute.String("error.type", errType))
	}
	v, _ := ac.m.LoadOrStore(k, metric.RecordOption(metric.WithAttributeSet(attribute.NewSet(semconv...))))
	return v.(metric.RecordOption)
}

// ErrorType is the error.type attribute for an outcome: "" on success,
// "tool_error" for an isError result, the JSON-RPC code for a backend's
// JSON-RPC error, and the outcome's name otherwise.
func ErrorType(o request.Outcome, err error) string {
	switch o {
	case request.OutcomeSuccess:
		return ""
	case request.OutcomeRPCError:
		var re *request.Error
		if errors.As(err, &re) && re.Wire != nil {
			return strconv.FormatInt(re.Wire.Code, 10)
		}
		var w *jsonrpc.Error
		if errors.As(err, &w) {
			return strconv.FormatInt(w.Code, 10)
		}
	}
	return o.String()
}

// backendCall is the CLIENT span around one backend request; it injects
// the span's context into the request's _meta.
func (o observer) backendCall(ctx context.Context, c *request.Call, b request.Backend, params mcp.Params) (context.Context, func(mcp.Result, error)) {
	t := o.t
	name := c.Method
	if c.OriginalName != "" {
		name += " " + c.OriginalName
	}
	buf := getAttrs()
	attrs := append(*buf, attribute.String("mcp.method.name", c.Method), attribute.String("mcp.backend", b.Name))
	attrs = appendTargetAttr(attrs, c.Method, c.OriginalName)
	switch b.Type {
	case "stdio":
		attrs = append(attrs, attribute.String("network.transport", "pipe"), attribute.String("process.command", b.Command))
	default:
		attrs = append(attrs, attribute.String("network.transport", "tcp"))
		attrs = append(attrs, t.serverAddress(b.URL)...)
	}
	// Set after Start rather than with it: the SDK copies them either way,
	// WithAttributes once more; no sampler Argus configures reads them.
	ctx, span := t.tracer.Start(ctx, name, clientKind)
	span.SetAttributes(attrs...)
	*buf = attrs
	putAttrs(buf)
	// What of the span's context the backend is sent (trace_propagation;
	// the router has already taken out what it may not see of the
	// client's).
	var p propagation.TextMapPropagator
	switch b.TracePropagation {
	case config.PropagateNone:
	case config.PropagateTrace:
		p = traceOnly
	default:
		p = t.propagator
	}
	if p != nil {
		injectMeta(ctx, params, p)
		if b.Type != config.TypeStdio {
			// And into the HTTP request's headers, for a backend traced
			// at its HTTP layer (backend's traceTransport).
			spanCtx := ctx
			ctx = request.WithHeaderInjector(ctx, func(h http.Header) { p.Inject(spanCtx, propagation.HeaderCarrier(h)) })
		}
	}
	start := time.Now()
	return ctx, func(res mcp.Result, err error) {
		// Timed now, recorded once the client has its answer where the
		// transport allows it (request.Defer).
		// From start by the monotonic clock, as the SDK ends a span: a
		// step of the wall clock meanwhile does not move the end.
		end := start.Add(time.Since(start))
		outcome := request.Classify(res, err)
		request.Defer(ctx, func() {
			errType := ErrorType(outcome, err)
			if errType != "" {
				span.SetAttributes(attribute.String("error.type", errType))
				if err != nil {
					span.SetStatus(codes.Error, recordError(span, err, trace.WithTimestamp(end)))
				} else {
					span.SetStatus(codes.Error, errType)
				}
			}
			span.End(trace.WithTimestamp(end))
			t.requests.clientOp.Record(ctx, end.Sub(start).Seconds(), t.attrs.client(c.Method, c.OriginalName, errType))
		})
	}
}

// traceOnly propagates a span's context without the baggage.
var traceOnly propagation.TextMapPropagator = propagation.TraceContext{}

// injectMeta puts ctx's trace context, as p writes it, into a copy of
// params' _meta, in place of the client's: what the propagator does not
// write (a tracestate or baggage the span does not carry, because the
// client's traceparent was invalid or its baggage too large) must not be
// left beside a traceparent it does not belong to (W3C: a tracestate
// goes with its traceparent).
func injectMeta(ctx context.Context, params mcp.Params, p propagation.TextMapPropagator) {
	meta := maps.Clone(request.Meta(params))
	if meta == nil {
		meta = map[string]any{}
	}
	maps.DeleteFunc(meta, func(k string, _ any) bool { return request.IsTraceContextKey(k) })
	p.Inject(ctx, metaCarrier(meta))
	params.SetMeta(meta)
}

// attrBufs holds attribute slices to build a span's attributes in: the
// SDK's span copies what SetAttributes is given, so the slice can be used
// again at once.
var attrBufs = sync.Pool{New: func() any {
	s := make([]attribute.KeyValue, 0, 16)
	return &s
}}

func getAttrs() *[]attribute.KeyValue { return attrBufs.Get().(*[]attribute.KeyValue) }

func putAttrs(p *[]attribute.KeyValue) {
	clear(*p) // drop the strings they point to
	*p = (*p)[:0]
	attrBufs.Put(p)
}

// serverAddress is appendServerAddress of an HTTP backend's URL, parsed
// once per URL (the URLs are the configuration's).
func (t *Telemetry) serverAddress(rawURL string) []attribute.KeyValue {
	if v, ok := t.servers.Load(rawURL); ok {
		return v.([]attribute.KeyValue)
	}
	v, _ := t.servers.LoadOrStore(rawURL, appendServerAddress(nil, rawURL))
	return v.([]attribute.KeyValue)
}

// appendServerAddress appends an HTTP backend's server.address and
// server.port, with the scheme's port when the URL names none.
func appendServerAddress(attrs []attribute.KeyValue, rawURL string) []attribute.KeyValue {
	u, err := url.Parse(rawURL)
	if err != nil {
		return attrs
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	attrs = append(attrs, attribute.String("server.address", host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	return attrs
}

// headerCarrier is propagation.HeaderCarrier reading the W3C keys by
// their canonical header names: the propagators ask for "traceparent",
// "tracestate" and "baggage", which http.Header.Get canonicalises into a
// new string every time (three allocations per request).
type headerCarrier http.Header

var canonicalKeys = map[string]string{"traceparent": "Traceparent", "tracestate": "Tracestate", "baggage": "Baggage"}

func (h headerCarrier) Get(key string) string {
	if k, ok := canonicalKeys[key]; ok {
		key = k
	}
	return http.Header(h).Get(key)
}

func (h headerCarrier) Set(key, value string) { http.Header(h).Set(key, value) }

func (h headerCarrier) Keys() []string { return propagation.HeaderCarrier(h).Keys() }

// metaCarrier carries W3C trace context in MCP params._meta (SEP-414:
// unprefixed traceparent, tracestate and baggage keys).
type metaCarrier map[string]any

func (m metaCarrier) Get(key string) string {
	s, _ := m[key].(string)
	return s
}

func (m metaCarrier) Set(key, value string) { m[key] = value }

func (m metaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func hasTraceContext(meta map[string]any) bool {
	_, ok := meta[request.MetaTraceparent]
	return ok
}
