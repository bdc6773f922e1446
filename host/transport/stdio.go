package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// ServeStdio waits for the start-up verdict on startup (an error is
// returned at once), so that the one client gets the full catalogue, then
// serves it on stdin and stdout with server until the client closes stdin
// or ctx is done, which both end it without error.
func ServeStdio(ctx context.Context, server *mcp.Server, startup <-chan error, log hclog.Logger) error {
	if err := <-startup; err != nil {
		return err
	}
	log.Info("serving MCP on stdio")
	err := server.Run(ctx, Stdio(&mcp.StdioTransport{}))
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("stdio session: %w", err)
	}
	return nil
}

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
