package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"

	"github.com/argusmcp/argus/host/audit/recent"
	"github.com/argusmcp/argus/host/request"
)

// Pipeline fans every audit event out to the queues of all sinks. Safe for
// concurrent use.
type Pipeline struct {
	queues         []*Queue
	recordRequests bool
	log            hclog.Logger
	mirror         func([]byte) // nil: events are not mirrored into the host log
	redact         func([]byte) []byte
	recent         *recent.Ring
}

// Options configure a Pipeline.
type Options struct {
	// RecordRequests also writes an mcp_request record before each
	// audited call runs (same event_id as its mcp_operation).
	RecordRequests bool
	// Mirror, if set, receives every event (its JSON) to copy into the
	// host log at the AUDIT level (see logging.AuditMirror), whatever the
	// log level.
	Mirror func([]byte)
	// Redact, if set, is applied to every event's JSON before it reaches
	// any sink or the mirror (see logging.Secrets.Redact): an audit record
	// carries no secret, the same rule as the log. It must keep the JSON
	// valid.
	Redact func([]byte) []byte
	// Recent, if set, keeps the most recent events (as the sinks receive
	// them, redacted) for the management API; nil keeps none.
	Recent *recent.Ring
	Logger hclog.Logger
}

// NewPipeline delivers to queues.
func NewPipeline(queues []*Queue, o Options) *Pipeline {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return &Pipeline{queues: queues, recordRequests: o.RecordRequests, log: o.Logger, mirror: o.Mirror, redact: o.Redact, recent: o.Recent}
}

// Record hands e to every sink. Errors (a full queue under "drop", or a
// request abandoned while waiting for room under "block") are counted per
// sink and returned joined.
func (p *Pipeline) Record(ctx context.Context, e Event) error {
	_, err := p.record(ctx, e.Marshal(), false)
	return err
}

// pending is an event queued on a sink whose acknowledgement the call's
// answer waits for (QueueOptions.AckBeforeReply).
type pending struct {
	q   *Queue
	seq uint64
}

// record is Record of an encoded event; with wait it also returns the
// queues (and sequence numbers) with AckBeforeReply that took it.
func (p *Pipeline) record(ctx context.Context, b []byte, wait bool) ([]pending, error) {
	if p.redact != nil {
		b = p.redact(b)
	}
	if p.mirror != nil {
		p.mirror(b)
	}
	p.recent.Add(b)
	var errs []error
	var waits []pending
	for _, q := range p.queues {
		seq, err := q.enqueue(ctx, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if wait && q.o.AckBeforeReply {
			waits = append(waits, pending{q, seq})
		}
	}
	return waits, errors.Join(errs...)
}

// Accepting reports whether every required sink can take events; if not,
// it names one that cannot.
func (p *Pipeline) Accepting() (bool, string) {
	for _, q := range p.queues {
		if q.o.Required && !q.Accepting() {
			return false, q.sink.Name()
		}
	}
	return true, ""
}

// Stats reports every queue; none when p is nil (audit disabled).
func (p *Pipeline) Stats() []QueueStats {
	if p == nil { // audit disabled
		return []QueueStats{}
	}
	out := make([]QueueStats, len(p.queues))
	for i, q := range p.queues {
		out[i] = q.Stats()
	}
	return out
}

// Close drains every queue (concurrently) within ctx.
func (p *Pipeline) Close(ctx context.Context) error {
	errs := make([]error, len(p.queues))
	done := make(chan int, len(p.queues))
	for i, q := range p.queues {
		go func() { errs[i] = q.Close(ctx); done <- i }()
	}
	for range p.queues {
		<-done
	}
	return errors.Join(errs...)
}

// Observer records calls of the audited methods: exactly one mcp_operation
// event per call, whatever its outcome (denials and panics included).
func (p *Pipeline) Observer() request.Observer { return observer{p} }

type observer struct{ p *Pipeline }

type eventIDKey struct{}

func (o observer) Begin(ctx context.Context, c *request.Call) context.Context {
	// An unclaimed multi-round-trip call's end is no request: it has no
	// mcp_request record, only its mcp_operation event.
	if !o.p.recordRequests || !Audited(c.Method) || c.Unclaimed {
		return ctx
	}
	id := uuid.NewString()
	if err := o.p.Record(ctx, RequestRecord(c, id)); err != nil {
		o.p.log.Warn("audit request record not queued", "error", err)
	}
	return context.WithValue(ctx, eventIDKey{}, id)
}

func (o observer) End(ctx context.Context, c *request.Call) {
	// A request that ended with an InputRequiredResult is one round of a
	// logical call that goes on in the client's retry: the event of the
	// request that ends the call covers it (metadata.rounds).
	if !Audited(c.Method) || c.InputRequired {
		return
	}
	id, _ := ctx.Value(eventIDKey{}).(string)
	b, id := operationEvent(c, id, trace.SpanContextFromContext(ctx), rpcCode(c.Err))
	// A request that waited for room is not abandoned half-way: the event
	// is queued even if the client has gone.
	waits, err := o.p.record(context.WithoutCancel(ctx), b, true)
	if err != nil {
		o.p.log.Warn("audit event not queued", "event_id", id, "error", err)
	}
	// Sinks with ack_before_reply hold the answer (End runs before the
	// client is answered) until the event is durable there, bounded by
	// the sink's call timeout: past it the call is answered anyway, and
	// the miss is logged and counted (ack_timeouts).
	for _, w := range waits {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.q.o.CallTimeout)
		if err := w.q.WaitAcked(wctx, w.seq); err != nil {
			o.p.log.Error("answering an audited call before its event is durable", "event_id", id, "error", err)
		}
		cancel()
	}
}

// operationEvent is the encoded mcp_operation event of a finished call,
// with the span's ids (when sc is valid) and the JSON-RPC error code
// (when code is not 0) in its metadata: appendOperation, or the Event
// if that cannot encode a value. It returns the event's id: eventID, or
// a new one if that is "".
func operationEvent(c *request.Call, eventID string, sc trace.SpanContext, code int64) ([]byte, string) {
	if eventID == "" {
		eventID = uuid.NewString() // one id for either encoding
	}
	if b, ok := appendOperation(make([]byte, 0, 640), c, eventID, sc, code); ok {
		return b, eventID
	}
	return operationRecord(c, eventID, sc, code).Marshal(), eventID
}

// operationRecord is the Event operationEvent encodes.
func operationRecord(c *request.Call, eventID string, sc trace.SpanContext, code int64) Event {
	e := FromCall(c, eventID)
	if sc.IsValid() {
		e.Metadata["trace_id"] = sc.TraceID().String()
		e.Metadata["span_id"] = sc.SpanID().String()
	}
	if code != 0 {
		e.Metadata["jsonrpc_error_code"] = code
	}
	return e
}

func rpcCode(err error) int64 {
	var re *request.Error
	if errors.As(err, &re) && re.Wire != nil {
		return re.Wire.Code
	}
	var w *jsonrpc.Error
	if errors.As(err, &w) {
		return w.Code
	}
	return 0
}

// CodeAuditUnavailable is the JSON-RPC error of a call refused because a
// required audit sink cannot record it.
const CodeAuditUnavailable = -32013

// Gate refuses audited calls while a required sink cannot accept events:
// the gateway fails closed rather than run them unaudited. The refusal is
// itself audited (queued for the sinks that can take it).
func (p *Pipeline) Gate() request.Middleware {
	return func(next request.Handler) request.Handler {
		return func(ctx context.Context, c *request.Call) (mcp.Result, error) {
			if Audited(c.Method) {
				if ok, sink := p.Accepting(); !ok {
					return nil, request.Errorf(request.OutcomeAuditUnavailable, CodeAuditUnavailable,
						"refused: the required audit sink %q cannot record this call", sink)
				}
			}
			return next(ctx, c)
		}
	}
}

// ManagementRecorder is Management as manage.Options.Audit takes it; nil
// when p is nil (audit disabled).
func (p *Pipeline) ManagementRecorder() func(context.Context, Mutation) {
	if p == nil {
		return nil
	}
	return p.Management
}

// Mutation is a management API change (reconnect, reload) and who made
// it, as a management_operation event records it.
type Mutation struct {
	// Operation is target.method: reconnect_backend or reload_config.
	Operation string
	// Target is the backend reconnected ("" for a reload).
	Target string
	// ClientIP is the caller's address (trusted proxies' X-Forwarded-For
	// honoured, as for MCP requests).
	ClientIP string
	// User is who called: an admin JWT's user, or UserManagementToken for
	// the holder of the management token, who has no other name.
	User string
	// Issuer and Groups are an admin JWT's issuer and groups (empty for
	// the management token).
	Issuer string
	Groups []string
	Start  time.Time
	Err    error
}

// UserManagementToken is a management_operation's source.user_id when the
// management token made it.
const UserManagementToken = "management"

// Management records a management API mutation as a management_operation
// event, its caller bounded as an MCP call's is.
func (p *Pipeline) Management(ctx context.Context, m Mutation) {
	var cut []string
	e := Event{
		Timestamp: Timestamp(time.Now()),
		EventType: TypeManagement,
		EventID:   uuid.NewString(),
		Source: Source{
			ClientIP: strPtr(clip(m.ClientIP, maxTextBytes, cutClientIP, &cut)),
			UserID:   strPtr(clip(m.User, maxTextBytes, cutUserID, &cut)),
		},
		Target:   Target{Method: m.Operation, CapabilityName: clip(m.Target, maxNameBytes, cutCapability, &cut)},
		Outcome:  Outcome{Status: "success", LatencyMS: float64(time.Since(m.Start).Microseconds()) / 1000},
		Metadata: map[string]any{"api": "/manage/v1"},
	}
	if m.Issuer != "" {
		e.Metadata["issuer"] = m.Issuer // one of the configuration's
	}
	if len(m.Groups) > 0 {
		e.Metadata["groups"] = clipGroups(m.Groups, &cut)
	}
	if m.Target != "" && !strings.HasPrefix(m.Operation, "reload") {
		e.Target.Backend = strPtr(e.Target.CapabilityName)
	}
	if m.Err != nil {
		e.Outcome.Status = "error"
		e.Outcome.Error = strPtr(clip(m.Err.Error(), maxErrorBytes, cutError, &cut))
		e.Outcome.ErrorType = strPtr("management_error")
	}
	if len(cut) > 0 {
		e.Metadata["truncated"] = cut
	}
	if rerr := p.Record(context.WithoutCancel(ctx), e); rerr != nil {
		p.log.Warn("audit event not queued", "event_id", e.EventID, "error", fmt.Sprint(rerr))
	}
}
