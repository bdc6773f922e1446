// Package sink is the host side of the audit sink plugin kind (blocks
// `sink "<plugin>" "<instance>"`; the plugin side is sdk/audit.go): the
// client of a sink instance's AuditSinkService and its adapter to the
// audit pipeline's Sink, with the queue settings of its host block.
package sink

import (
	"context"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/argusmcp/argus/host/audit"
	"github.com/argusmcp/argus/host/audit/recent"
	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/logging"
	"github.com/argusmcp/argus/host/pluginhost"
	"github.com/argusmcp/argus/host/pluginhost/proc"
	"github.com/argusmcp/argus/shared"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Client calls one generation (process) of an audit sink instance. Calls
// without a deadline get the runtime's call timeout.
type Client struct {
	pluginhost.Generation
	c pluginv1.AuditSinkServiceClient
}

// Connect waits (within ctx) until the sink instance runs and returns a
// client for its current process.
func Connect(ctx context.Context, inst *pluginhost.Instance) (*Client, error) {
	g, err := inst.Conn(ctx, shared.KindAuditSink)
	if err != nil {
		return nil, err
	}
	return &Client{Generation: g, c: pluginv1.NewAuditSinkServiceClient(g.GRPC())}, nil
}

// Write sends one batch of events of stream (in increasing seq order) and
// returns the acknowledged sequence number: every event up to it is
// durable.
func (c *Client) Write(ctx context.Context, stream string, events []*pluginv1.AuditEvent) (uint64, error) {
	resp, err := c.c.Write(ctx, &pluginv1.WriteRequest{Stream: stream, Events: events})
	if err != nil {
		return 0, proc.CallError(err)
	}
	return resp.GetAckedSeq(), nil
}

// Flush makes everything written durable and returns the acknowledgement.
func (c *Client) Flush(ctx context.Context) (uint64, error) {
	resp, err := c.c.Flush(ctx, &pluginv1.FlushRequest{})
	if err != nil {
		return 0, proc.CallError(err)
	}
	return resp.GetAckedSeq(), nil
}

// Close flushes and closes the sink; no Write may follow.
func (c *Client) Close(ctx context.Context) (uint64, error) {
	resp, err := c.c.Close(ctx, &pluginv1.CloseRequest{})
	if err != nil {
		return 0, proc.CallError(err)
	}
	return resp.GetAckedSeq(), nil
}

// Sink delivers to an audit sink plugin instance: it is the audit
// pipeline's Sink.
type Sink struct{ Instance *pluginhost.Instance }

// Name implements audit.Sink.
func (s Sink) Name() string { return s.Instance.ID() }

// Connect implements audit.Sink: it waits until the instance runs.
func (s Sink) Connect(ctx context.Context) (audit.Conn, error) {
	c, err := Connect(ctx, s.Instance)
	if err != nil {
		return nil, err
	}
	return conn{c}, nil
}

type conn struct{ c *Client }

func (p conn) Write(ctx context.Context, stream string, batch []audit.Record) (uint64, error) {
	events := make([]*pluginv1.AuditEvent, len(batch))
	for i, r := range batch {
		events[i] = &pluginv1.AuditEvent{Seq: r.Seq, Json: r.JSON}
	}
	return p.c.Write(ctx, stream, events)
}

func (p conn) Flush(ctx context.Context) (uint64, error) { return p.c.Flush(ctx) }
func (p conn) Close(ctx context.Context) (uint64, error) { return p.c.Close(ctx) }
func (p conn) Done() <-chan struct{}                     { return p.c.Done() }

// Queues builds one delivery queue per audit sink instance of rt, in
// configuration order, each with its instance's host settings (required,
// queue_size, on_full, ack_before_reply). stream names this host process's delivery stream.
func Queues(rt *pluginhost.Runtime, stream string, log hclog.Logger) []*audit.Queue {
	var queues []*audit.Queue
	for _, inst := range rt.OfKind(shared.KindAuditSink) {
		h := inst.Spec().Host
		queues = append(queues, audit.NewQueue(Sink{Instance: inst}, audit.QueueOptions{
			Stream: stream, Capacity: h.QueueSize, OnFull: h.OnFull, Required: h.Required, AckBeforeReply: h.AckBeforeReply, Logger: log,
		}))
	}
	return queues
}

// Required selects the audit sink instances with host.required set: the
// serving path needs them (audited calls are refused without them), so
// readiness waits for their first start.
func Required(inst *pluginhost.Instance) bool {
	return inst.Spec().Kind == shared.KindAuditSink && inst.Spec().Host.Required
}

// Pipeline builds the audit pipeline of cfg over the audit sink instances
// of rt: one delivery queue per instance, in one delivery stream per host
// process; nil when audit is disabled. Records are redacted with secrets
// and, with audit.log_events, mirrored to the log as logOpts configure it;
// recent (nil for none) keeps the latest of them for the management API.
func Pipeline(cfg config.Audit, rt *pluginhost.Runtime, log hclog.Logger, logOpts logging.Options, secrets *logging.Secrets, recent *recent.Ring) *audit.Pipeline {
	if !cfg.Enabled {
		log.Warn("audit is disabled: MCP operations are not recorded")
		return nil
	}
	stream := uuid.NewString()
	queues := Queues(rt, stream, log.Named("audit"))
	opts := audit.Options{RecordRequests: cfg.RecordRequests, Logger: log.Named("audit"), Redact: secrets.Redact, Recent: recent}
	if cfg.LogEvents {
		opts.Mirror = logging.AuditMirror(logOpts, secrets)
	}
	log.Info("audit enabled", "sinks", len(queues), "stream", stream)
	return audit.NewPipeline(queues, opts)
}
