package transport

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// Stdio wraps t (normally &mcp.StdioTransport{}) so that requests read from
// it carry their request.Facts (transport name and JSON-RPC id) to the
// gateway, as HTTP requests do.
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
		f := request.Facts{Transport: request.TransportStdio}
		if req.IsCall() {
			if id, err := json.Marshal(req.ID.Raw()); err == nil {
				f.JSONRPCID = string(id)
			}
		}
		req.Extra = &mcp.RequestExtra{TokenInfo: f.TokenInfo()}
	}
	return msg, err
}
