// Package discard is the built-in audit sink that drops every event and
// acknowledges it at once. It measures the cost of the sink protocol itself
// (make bench) and stands in for a sink in tests; it keeps no audit trail.
//
//	audit {
//	  sink "discard" "null" {}
//	}
package discard

import (
	"context"
	"sync/atomic"

	"github.com/argusmcp/argus/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Plugin describes the discard sink.
func Plugin() *sdk.Plugin {
	return sdk.New("discard", Version, sdk.AuditSink(sdk.SinkFactory{
		New: func(_ context.Context, cfg sdk.Config) (sdk.Sink, error) {
			return &sink{log: cfg.Logger()}, nil
		},
	}))
}

type sink struct {
	log    sdk.Logger
	events atomic.Uint64
}

func (s *sink) Write(_ context.Context, events []sdk.Event) error {
	s.events.Add(uint64(len(events)))
	return nil
}

func (s *sink) Close(context.Context) error {
	s.log.Debug("discarded audit events", "events", s.events.Load())
	return nil
}
