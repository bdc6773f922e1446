package gateway

// Points where testPanicHook is called, at the top of the goroutines that
// serve client and backend messages.
const (
	hookClientRequest  = "client request"  // every client message (intercept)
	hookBackendRequest = "backend message" // every backend message (link.intercept)
)

// testPanicHook, when set, is called at each hook point with the message's
// method. Only tests set it (export_test.go), to prove that a panic at the
// outermost point of a goroutine is recovered; production code never
// does, and a nil check is all it costs.
var testPanicHook func(point, method string)
