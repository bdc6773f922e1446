package hydratest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func claimsOf(t *testing.T, token string) (header, claims map[string]any) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return header, claims
}

// TestE2EHydra: the helper's Hydra issues JWT access tokens with the
// requested audience, the client's groups, and a new key id after a
// rotation.
func TestE2EHydra(t *testing.T) {
	h := Start(t, Options{})
	const aud = "http://127.0.0.1:9/mcp"
	c := h.CreateClient(t, aud)
	h.SetGroups(c.ID, []string{"sre"})
	hdr, cl := claimsOf(t, h.Token(t, c, aud))
	if cl["iss"] != h.Issuer() || cl["sub"] != c.ID || hdr["alg"] != "RS256" {
		t.Errorf("header %v claims %v", hdr, cl)
	}
	if a, _ := cl["aud"].([]any); len(a) != 1 || a[0] != aud {
		t.Errorf("aud = %v", cl["aud"])
	}
	if g, _ := cl["groups"].([]any); len(g) != 1 || g[0] != "sre" {
		t.Errorf("groups = %v (claims %v)", cl["groups"], cl)
	}
	kid := h.RotateKeys(t, "ES256")
	hdr2, _ := claimsOf(t, h.Token(t, c, aud))
	if hdr2["kid"] != kid || hdr2["alg"] != "ES256" {
		t.Errorf("after rotation to %s: header %v", kid, hdr2)
	}
	resp, err := http.Get(h.Issuer() + ".well-known/openid-configuration")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("discovery: %v %v", err, resp)
	}
	resp.Body.Close()
}
