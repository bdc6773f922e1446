package listener

import (
	"net/http"

	"github.com/argusmcp/argus/host/config"
	"github.com/argusmcp/argus/host/identity"
)

// Routes are the paths the gateway's listener serves.
type Routes struct {
	// MCP is the MCP endpoint (transport.NewMCPHandler), served at /mcp.
	MCP http.Handler
	// Management is the management API, served under ManagementPrefix+"/".
	ManagementPrefix string
	Management       http.Handler
	// Console, if not nil, is the web console, served under ConsolePrefix.
	ConsolePrefix string
	Console       http.Handler
	// Metrics, if not nil, answers GET /metrics (Prometheus scraping).
	Metrics http.Handler
	// Auth, when it has jwt blocks, makes the listener serve the RFC 9728
	// protected resource metadata at identity.MetadataPath (and its /mcp
	// form): where MCP clients learn which authorization server issues
	// tokens for this gateway.
	Auth *config.Auth
}

// Mux routes the paths of r.
func (r Routes) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(r.ManagementPrefix+"/", r.Management)
	if r.Console != nil {
		mux.Handle(r.ConsolePrefix, r.Console)
	}
	if r.Metrics != nil {
		mux.Handle("GET /metrics", r.Metrics)
	}
	if r.Auth != nil && len(r.Auth.JWT) > 0 {
		meta := identity.MetadataHandler(r.Auth)
		mux.Handle(identity.MetadataPath, meta)
		mux.Handle(identity.MetadataPath+"/mcp", meta)
	}
	mux.Handle("/mcp", r.MCP)
	return mux
}
