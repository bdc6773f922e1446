// Package jsongen generates random JSON for the tests of the audit record
// parser, encoder and fast canonicaliser.
package jsongen

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
)

// Value is a random JSON value without duplicate keys, nested depth
// levels deep already: numbers, literals, strings with escapes, HTML
// characters, U+2028 and non-ASCII, arrays and objects.
func Value(r *rand.Rand, depth int) string {
	n := 6
	if depth > 3 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		return []string{"0", "-12.5", "3e7", "1E-3", "42"}[r.IntN(5)]
	case 1:
		return []string{"true", "false", "null"}[r.IntN(3)]
	case 2, 3:
		b, _ := json.Marshal(randomString(r))
		if r.IntN(3) == 0 {
			b = bytes.ReplaceAll(b, []byte("a"), []byte(`\u0061`))
		}
		return string(b)
	case 4:
		parts := make([]string, r.IntN(4))
		for i := range parts {
			parts[i] = Value(r, depth+1)
		}
		return "[" + strings.Join(parts, " , ") + "]"
	default:
		seen := map[string]bool{}
		var parts []string
		for range r.IntN(5) {
			k := randomString(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			kb, _ := json.Marshal(k)
			parts = append(parts, string(kb)+":"+Value(r, depth+1))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
}

func randomString(r *rand.Rand) string {
	const alphabet = "ab<>&\"\\/\n\té😀\u2028 "
	rs := []rune(alphabet)
	var b strings.Builder
	for range r.IntN(6) {
		b.WriteRune(rs[r.IntN(len(rs))])
	}
	return b.String()
}
