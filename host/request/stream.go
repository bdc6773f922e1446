package request

import (
	"context"
	"encoding/json"
)

// Stream is the response stream of one client call served on the lean
// path (host/transport): what the gateway sends the client while the call
// runs (progress, log messages, requests for input) goes on it instead of
// through the SDK's session, which does not know the call. It starts as a
// plain JSON response and turns into an SSE stream with the first such
// message, as the streamable HTTP transport allows.
type Stream interface {
	// Notify sends a notification on the call's stream.
	Notify(ctx context.Context, method string, params any) error
	// Call sends a request on the call's stream and waits for the client's
	// answer (its JSON-RPC result, or its error as a *jsonrpc.Error).
	Call(ctx context.Context, method string, params any) (json.RawMessage, error)
}

type streamKey struct{}

// WithStream returns ctx carrying the call's lean response stream.
func WithStream(ctx context.Context, s Stream) context.Context {
	return context.WithValue(ctx, streamKey{}, s)
}

// StreamFrom returns the stream WithStream put in ctx.
func StreamFrom(ctx context.Context) (Stream, bool) {
	s, ok := ctx.Value(streamKey{}).(Stream)
	return s, ok
}
