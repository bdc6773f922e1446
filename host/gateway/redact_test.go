package gateway_test

import (
	"errors"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/logging"
)

// TestRedactedErrors: a JSON-RPC error for a client loses Argus's secrets
// from its message and its data, keeping its code; data the redaction
// would leave invalid is dropped; an error without secrets, or of another
// type, is sent as it is.
func TestRedactedErrors(t *testing.T) {
	secrets := logging.NewSecrets("tok-s3cr3t-42", `42,"zz`)
	redact := secrets.RedactString
	plain := &jsonrpc.Error{Code: -32001, Message: "no secret here", Data: []byte(`{"a":1}`)}
	if got := gateway.Redacted(redact, plain); got != plain {
		t.Errorf("an error without secrets was copied: %v", got)
	}
	other := errors.New("tok-s3cr3t-42")
	if got := gateway.Redacted(redact, other); got != other {
		t.Errorf("a non-JSON-RPC error was changed: %v", got)
	}
	got := gateway.Redacted(redact, &jsonrpc.Error{Code: -32001, Message: "sent Bearer tok-s3cr3t-42", Data: []byte(`{"sent":"Bearer tok-s3cr3t-42","n":1}`)}).(*jsonrpc.Error)
	if got.Code != -32001 || got.Message != "sent Bearer [REDACTED]" || string(got.Data) != `{"sent":"Bearer [REDACTED]","n":1}` {
		t.Errorf("got %d %q %s", got.Code, got.Message, got.Data)
	}
	// A secret matched across JSON's structure (here a number, a comma
	// and a quote) leaves no data rather than data that is not JSON.
	broken := gateway.Redacted(redact, &jsonrpc.Error{Code: 1, Message: "m", Data: []byte(`[42,"zz"]`)}).(*jsonrpc.Error)
	if broken.Data != nil {
		t.Errorf("data %s, want none", broken.Data)
	}
}
