package audit

import (
	"context"

	"github.com/argusmcp/argus/host/pluginhost"
	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// PluginSink delivers to an audit sink plugin instance.
type PluginSink struct{ Instance *pluginhost.Instance }

// Name implements Sink.
func (s PluginSink) Name() string { return s.Instance.ID() }

// Connect implements Sink: it waits until the instance runs.
func (s PluginSink) Connect(ctx context.Context) (Conn, error) {
	c, err := s.Instance.Sink(ctx)
	if err != nil {
		return nil, err
	}
	return pluginConn{c}, nil
}

type pluginConn struct{ c *pluginhost.SinkClient }

func (p pluginConn) Write(ctx context.Context, stream string, batch []Record) (uint64, error) {
	events := make([]*pluginv1.AuditEvent, len(batch))
	for i, r := range batch {
		events[i] = &pluginv1.AuditEvent{Seq: r.Seq, Json: r.JSON}
	}
	return p.c.Write(ctx, stream, events)
}

func (p pluginConn) Flush(ctx context.Context) (uint64, error) { return p.c.Flush(ctx) }
func (p pluginConn) Close(ctx context.Context) (uint64, error) { return p.c.Close(ctx) }
func (p pluginConn) Done() <-chan struct{}                     { return p.c.Done() }
