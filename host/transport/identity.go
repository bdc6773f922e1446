package transport

import (
	"errors"
	"net/http"
	"strings"

	"github.com/argusmcp/argus/host/identity"
)

// authenticate finds who sent r: a configured static token, or else a JWT
// access token that the auth block's issuers vouch for. The static tokens
// are compared first, in constant time, whatever the token looks like.
func (h *mcpHandler) authenticate(r *http.Request) (*identity.Identity, error) {
	headers := r.Header.Values("Authorization")
	user, err := h.tokens.verify(headers)
	if err == nil {
		return &identity.Identity{UserID: user}, nil
	}
	if !errors.Is(err, errBadToken) || h.jwts == nil {
		return nil, err
	}
	_, token, _ := strings.Cut(headers[0], " ")
	token = strings.TrimSpace(token)
	if !identity.LooksLikeJWT(token) {
		return nil, err
	}
	return h.jwts.Verify(r.Context(), token)
}
