package transport

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/gateway"
	"github.com/argusmcp/argus/host/request"
)

// Stdio wraps t (normally &mcp.StdioTransport{}) so that requests read from
// it carry their JSON-RPC id and transport name to the gateway, as HTTP
// requests do through headers.
func Stdio(t mcp.Transport) mcp.Transport { return stdioTransport{t} }

type stdioTransport struct{ mcp.Transport }

func (t stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return taggingConn{c}, nil
}

type taggingConn struct{ mcp.Connection }

func (c taggingConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if req, ok := msg.(*jsonrpc.Request); ok && err == nil && req.Extra == nil {
		h := http.Header{}
		h.Set(gateway.HeaderTransport, request.TransportStdio)
		if req.IsCall() {
			if id, err := json.Marshal(req.ID.Raw()); err == nil {
				h.Set(gateway.HeaderJSONRPCID, string(id))
			}
		}
		req.Extra = &mcp.RequestExtra{Header: h}
	}
	return msg, err
}
