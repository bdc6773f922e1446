package sdk

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/argusmcp/argus/shared/proto/argus/plugin/v1"
)

// Event is one audit event: its position in the host's delivery stream and
// the event as a JSON object in the documented audit format.
type Event struct {
	Seq  uint64
	JSON []byte
}

// Sink is an audit sink.
//
// Write receives events in sequence order, one call at a time. Returning
// nil means every event of the batch is durable (unless the sink is an
// Acker); returning an error means the host will send the events again
// (after a restart, to a new process). The SDK drops events a process has
// already written, so a retried batch never reaches Write twice; a sink
// that persists across restarts deduplicates by (stream, Seq) itself (see
// Stream).
//
// Optional: Flusher (make buffered events durable), Acker (durability lags
// Write), Closer (release resources at shutdown).
type Sink interface {
	Write(ctx context.Context, events []Event) error
}

// Flusher is a Sink that buffers: Flush makes everything written durable.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Acker is a Sink whose events become durable after Write returns (for
// example on a timed fsync). Acked is the highest sequence number up to
// which every event is durable.
type Acker interface {
	Acked() uint64
}

// Closer is any configured instance holding resources: Close is called
// once when Argus stops the plugin (after Flush for sinks).
type Closer interface {
	Close(ctx context.Context) error
}

// SinkFactory makes a plugin an audit sink.
type SinkFactory struct {
	// Schema of the sink's configuration block. Nil: no attributes.
	Schema *Schema
	// Validate checks a configuration without side effects; `argus
	// validate` calls only this. Optional.
	Validate func(cfg Config) error
	// New builds the sink. ctx bounds New itself, not the sink's lifetime.
	//
	// If New fails, it returns an error and releases what it acquired;
	// if it returns the partly built instance along with the error, the
	// SDK calls its Close (Closer or io.Closer) and discards it, so New
	// can defer nothing and simply return what it has. See Config for
	// what happens when New reads the configuration wrongly.
	New func(ctx context.Context, cfg Config) (Sink, error)
}

// AuditSink makes the plugin an audit sink (blocks `sink "<name>" "<instance>"`).
func AuditSink(f SinkFactory) Option {
	return func(p *Plugin) {
		mustOnce(p, p.sink != nil, "AuditSink")
		mustSchema(p, f.Schema, "AuditSink")
		p.sink = &f
	}
}

// sinkService serves AuditSinkService for the configured Sink.
type sinkService struct {
	pluginv1.UnimplementedAuditSinkServiceServer
	srv *server

	mu     sync.Mutex // one Write at a time
	stream string
	last   uint64 // highest seq written in stream by this process
}

// Stream returns the delivery stream of the events a Write carries, for
// sinks that persist (stream, seq) to deduplicate across restarts.
func Stream(ctx context.Context) string {
	s, _ := ctx.Value(streamKey{}).(string)
	return s
}

type streamKey struct{}

func (s *sinkService) sink() (Sink, error) {
	inst, err := s.srv.instance()
	if err != nil {
		return nil, err
	}
	sink, ok := inst.(Sink)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "the plugin is not configured as an audit sink")
	}
	return sink, nil
}

func (s *sinkService) acked(sink Sink) uint64 {
	if a, ok := sink.(Acker); ok {
		return a.Acked()
	}
	return s.last
}

func (s *sinkService) Write(ctx context.Context, req *pluginv1.WriteRequest) (*pluginv1.WriteResponse, error) {
	sink, err := s.sink()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.GetStream() != s.stream {
		s.stream, s.last = req.GetStream(), 0
	}
	events := make([]Event, 0, len(req.GetEvents()))
	var prev uint64
	for _, e := range req.GetEvents() {
		if e.GetSeq() <= prev {
			return nil, status.Errorf(codes.InvalidArgument, "event seq %d after %d: sequence numbers start at 1 and increase", e.GetSeq(), prev)
		}
		prev = e.GetSeq()
		if e.GetSeq() > s.last {
			events = append(events, Event{Seq: e.GetSeq(), JSON: e.GetJson()})
		}
	}
	if len(events) > 0 {
		if err := sink.Write(context.WithValue(ctx, streamKey{}, s.stream), events); err != nil {
			return nil, status.Errorf(codes.Unavailable, "write: %v", err)
		}
		s.last = events[len(events)-1].Seq
	}
	return &pluginv1.WriteResponse{AckedSeq: s.acked(sink)}, nil
}

func (s *sinkService) Flush(ctx context.Context, _ *pluginv1.FlushRequest) (*pluginv1.FlushResponse, error) {
	sink, err := s.sink()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := sink.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			return nil, status.Errorf(codes.Unavailable, "flush: %v", err)
		}
	}
	return &pluginv1.FlushResponse{AckedSeq: s.acked(sink)}, nil
}

func (s *sinkService) Close(ctx context.Context, _ *pluginv1.CloseRequest) (*pluginv1.CloseResponse, error) {
	sink, err := s.sink()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.srv.close(ctx); err != nil {
		return nil, status.Errorf(codes.Unavailable, "close: %v", err)
	}
	return &pluginv1.CloseResponse{AckedSeq: s.acked(sink)}, nil
}
