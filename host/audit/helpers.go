package audit

import (
	"errors"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

func asRequestError(err error, target **request.Error) bool { return errors.As(err, target) }

// toolErrorText joins the text blocks of an isError tool result.
func toolErrorText(res mcp.Result) string {
	r, ok := res.(*mcp.CallToolResult)
	if !ok {
		return "tool error"
	}
	var parts []string
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	if len(parts) == 0 {
		return "tool error"
	}
	return strings.Join(parts, "\n")
}
