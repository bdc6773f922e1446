package request

import "unicode/utf8"

// Clip is s cut to at most n bytes at a rune boundary, with "…" added
// when it was cut: a client's text (a method, a name, an error that
// quotes it) bounded where it is logged or recorded.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
