package identity

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/argusmcp/argus/host/config"
)

// MetadataPath is where the RFC 9728 protected resource metadata is
// served; the path-suffixed form for the /mcp endpoint is
// MetadataPath + "/mcp" (RFC 9728 §3.1). Both serve the same document.
const MetadataPath = "/.well-known/oauth-protected-resource"

// Resource is this gateway's resource identifier: the configured one, or
// else the URL of /mcp as the request reached it.
func Resource(a *config.Auth, r *http.Request) string {
	if a != nil && a.Resource != "" {
		return a.Resource
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/mcp"
}

// MetadataURL is the URL of the protected resource metadata of resource:
// MetadataPath inserted between host and path (RFC 9728 §3.1).
func MetadataURL(resource string) string {
	scheme, rest, ok := strings.Cut(resource, "://")
	if !ok {
		return resource
	}
	host, path, _ := strings.Cut(rest, "/")
	path = strings.TrimSuffix("/"+path, "/")
	return scheme + "://" + host + MetadataPath + path
}

// Metadata is the protected resource metadata document (RFC 9728) of
// auth for the resource that r reached.
func Metadata(a *config.Auth, r *http.Request) *oauthex.ProtectedResourceMetadata {
	m := &oauthex.ProtectedResourceMetadata{
		Resource:               Resource(a, r),
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        a.Scopes,
		ResourceName:           "Argus MCP gateway",
	}
	for _, j := range a.JWT {
		m.AuthorizationServers = append(m.AuthorizationServers, j.Issuer)
	}
	return m
}

// MetadataHandler serves Metadata at MetadataPath and MetadataPath/mcp
// (GET, with CORS for browser-based clients, as the SDK's handler does).
func MetadataHandler(a *config.Auth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.ProtectedResourceMetadataHandler(Metadata(a, r)).ServeHTTP(w, r)
	})
}

// Challenge is the WWW-Authenticate value of a refusal: the Bearer scheme
// with resource_metadata (so MCP clients find the authorization server),
// error and error_description when a token was presented but refused
// (err is an *Error; RFC 6750 §3.1 leaves error out when no token was
// sent), and scope when scopes are required.
func Challenge(a *config.Auth, r *http.Request, err error) string {
	parts := []string{`realm="argus"`}
	if a != nil && len(a.JWT) > 0 {
		parts = append(parts, fmt.Sprintf("resource_metadata=%q", MetadataURL(Resource(a, r))))
	}
	if e, ok := err.(*Error); ok && e != nil {
		parts = append(parts, fmt.Sprintf("error=%q", e.Code), fmt.Sprintf("error_description=%q", quoteSafe(e.Description)))
	}
	if a != nil && len(a.Scopes) > 0 {
		parts = append(parts, fmt.Sprintf("scope=%q", strings.Join(a.Scopes, " ")))
	}
	return "Bearer " + strings.Join(parts, ", ")
}

// quoteSafe keeps a description inside RFC 6750's allowed characters
// (%x20-21 / %x23-5B / %x5D-7E): no quote, backslash or control byte.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}
