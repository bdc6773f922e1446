package gateway

// SetPanicHook makes the gateway panic-test hook call f (nil removes it)
// at the top of the goroutines serving client and backend messages.
// point is "client request" or "backend message". Not safe to call while
// a gateway serves.
func SetPanicHook(f func(point, method string)) { testPanicHook = f }

// LeanRequestMethods are the methods ServeLean makes requests of.
func LeanRequestMethods() []string {
	var out []string
	for m := range leanRequests {
		out = append(out, m)
	}
	return out
}

// Redacted is what a gateway with Options.Redact redact sends a client
// for the JSON-RPC error err.
func Redacted(redact func(string) string, err error) error {
	return (&Gateway{redact: redact}).redacted(err)
}
