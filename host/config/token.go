package config

import (
	"fmt"
	"strings"
)

// ManagementTokenEnv names the environment variable that overrides
// management.token.
const ManagementTokenEnv = "ARGUS_MGMT_TOKEN"

// MinTokenLength is the shortest management token accepted.
const MinTokenLength = 16

// placeholders are tokens people leave in configs; refused whatever their
// length.
var placeholders = []string{"changeme", "change-me", "change_me", "secret", "token", "password", "passw0rd",
	"admin", "default", "example", "test", "letmein", "replace-me", "replaceme", "your-token-here", "xxxxxxxx"}

// WeakToken explains why token (surrounding white space ignored) is too
// weak to guard the management API: shorter than MinTokenLength, or made
// only of placeholder words ("changeme", "secret-token-123",
// "password1234567890"), digits and punctuation. "" means it is
// acceptable. The explanation never quotes the token.
func WeakToken(token string) string {
	token = strings.TrimSpace(token)
	if len(token) < MinTokenLength {
		return fmt.Sprintf("has %d characters; at least %d are required", len(token), MinTokenLength)
	}
	rest := strings.ToLower(token)
	for _, p := range placeholders {
		rest = strings.ReplaceAll(rest, p, "")
	}
	if strings.Trim(rest, "-_.:0123456789!*#@ ") == "" {
		return "is a placeholder; generate one, e.g. with `openssl rand -hex 32`"
	}
	return ""
}
