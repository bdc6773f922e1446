package request

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestAwaitHoldsCallsUntilReady(t *testing.T) {
	ready := make(chan struct{})
	reached := make(chan struct{}, 1)
	h := Await(ready)(func(context.Context, *Call) (mcp.Result, error) {
		reached <- struct{}{}
		return &mcp.CallToolResult{}, nil
	})

	// A call whose context ends while waiting never reaches the handler.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h(ctx, &Call{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: err = %v", err)
	}
	select {
	case <-reached:
		t.Fatal("handler ran before ready")
	default:
	}

	done := make(chan error, 1)
	go func() { _, err := h(context.Background(), &Call{}); done <- err }()
	select {
	case <-reached:
		t.Fatal("handler ran before ready")
	case <-time.After(50 * time.Millisecond):
	}
	close(ready)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-reached
}
