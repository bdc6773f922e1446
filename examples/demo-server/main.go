// Command demo-server is a small backend MCP server built on the official MCP
// Go SDK. The Argus gateway uses it for `make run`, for its end-to-end tests
// and for its benchmarks.
//
// Usage:
//
//	demo-server [-name NAME] [-http ADDR | -sse ADDR]
//
// Flags:
//
//	-http ADDR  serve MCP streamable HTTP (stateful sessions) on ADDR at path
//	            /mcp, e.g. -http 127.0.0.1:8081 or -http 127.0.0.1:0 for a
//	            free port. Once listening, a single line
//	            "listening on http://HOST:PORT/mcp" with the real bound address
//	            is printed to stderr. Without -http the server speaks MCP over
//	            stdin/stdout.
//	-sse ADDR   serve the legacy HTTP+SSE transport on ADDR at path /sse
//	            instead, printing "listening on http://HOST:PORT/sse".
//	-name NAME  server implementation name (default "demo"). It also appears
//	            in resource URIs, texts and result metadata so that two
//	            instances can be told apart.
//	-exit-delay D  in stdio mode, wait D (say 300ms) after the session ends
//	            before exiting: a backend slow to stop.
//
// Logs go to stderr only (in stdio mode stdout carries the protocol). SIGINT
// and SIGTERM shut the server down cleanly.
//
// Tools:
//
//	echo       {message string}                 text = message, structured {"message": message}
//	add        {a number, b number}             text = a+b, structured {"sum": a+b}
//	slow       {steps int, interval_ms int}     progress notification per step (if the request
//	                                            has a progress token), then "done after N steps";
//	                                            steps defaults to 5, interval_ms to 100
//	sleep      {ms int}                         sleeps ms milliseconds (cancellable), then "slept"
//	fail       {message string}                 JSON-RPC error, code -32001, with message
//	tool_error {message string}                 result with isError=true and the message as text
//	pid        {}                               text = the process id, structured {"pid": pid}
//	meta       {}                               _meta {"demo/server": NAME}, a text and a PNG image
//	                                            content block, structured {"ok": true}
//	ask        {question string, timeout_ms}    sampling/createMessage to the client; "sampled: ANSWER"
//	                                            (gives up, cancelling the request, after timeout_ms)
//	confirm    {message string}                 elicitation/create to the client; "action: A content: {...}"
//	roots      {}                               roots/list to the client; "roots: URI,URI"
//	log        {level string, message string}   notifications/message to the client; "logged"
//	touch      {}                               notifications/resources/updated for the readme; "touched"
//	add_tool   {name string}                    adds an echo tool by that name (tools/list_changed)
//	slow_pings {ms int, flap bool}              delays ping answers (every other one with flap)
//	traceparent {}                              the W3C traceparent the request carried in _meta;
//	                                            structured {traceparent, tracestate, baggage}, and
//	                                            header_* the same from HTTP headers
//	client_capabilities {}                      the client capabilities the request's server sees
//	                                            (declared in _meta, else the session's), as JSON text
//
// Resources:
//
//	demo://NAME/readme       static text/plain "Demo server NAME"
//	demo://NAME/items/{id}   template; reads as "item {id} from NAME"
//
// Prompts:
//
//	greet {name (required), style (optional: "plain" or "shout")} -> one user
//	message "Hello, {name}!" (upper-cased when style is "shout")
//
// Completion: the greet prompt's style argument completes to "plain" and
// "shout", filtered by prefix.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// shutdownTimeout bounds how long an HTTP shutdown waits for in-flight
// requests before connections are closed forcibly.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "demo-server: %v\n", err)
		os.Exit(1)
	}
}

// errUsage reports bad command-line arguments (already described on stderr).
var errUsage = errors.New("usage error")

// run parses args, builds the server and serves it until ctx is cancelled
// (or, in stdio mode, until stdin is closed). Diagnostics go to stderr.
// A shutdown caused by cancelling ctx is not an error.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "", "if set, serve MCP streamable HTTP on this address at path /mcp instead of stdio")
	sseAddr := fs.String("sse", "", "if set, serve the legacy HTTP+SSE transport on this address at path /sse")
	name := fs.String("name", "demo", "server implementation name, also used in URIs and texts")
	exitDelay := fs.Duration("exit-delay", 0, "in stdio mode, wait this long after the session ends before exiting (a backend slow to stop)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo-server: unexpected arguments: %q\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	if *name == "" {
		fmt.Fprintln(stderr, "demo-server: -name must not be empty")
		return errUsage
	}

	logger := log.New(stderr, "demo-server["+*name+"]: ", log.LstdFlags)
	server := newServer(*name)
	if *httpAddr != "" && *sseAddr != "" {
		fmt.Fprintln(stderr, "demo-server: -http and -sse are mutually exclusive")
		return errUsage
	}
	if *httpAddr != "" {
		return serveHTTP(ctx, server, *httpAddr, "/mcp", streamableHandler(server), stderr, logger)
	}
	if *sseAddr != "" {
		return serveHTTP(ctx, server, *sseAddr, "/sse", mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil), stderr, logger)
	}
	logger.Printf("serving MCP over stdio")
	err := server.Run(ctx, &mcp.StdioTransport{})
	time.Sleep(*exitDelay)
	if ctx.Err() != nil {
		logger.Printf("shutting down")
		return nil
	}
	if err != nil {
		return fmt.Errorf("stdio session: %w", err)
	}
	return nil
}

// serveHTTP serves handler on addr at path until ctx is cancelled, then
// shuts the HTTP server down.
func serveHTTP(ctx context.Context, server *mcp.Server, addr, path string, handler http.Handler, stderr io.Writer, logger *log.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(path, handler)

	// Cancelling baseCtx ends the long-lived SSE streams (which would
	// otherwise never become idle) so that Shutdown can complete.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "listening on http://%s%s\n", ln.Addr(), path)

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	logger.Printf("shutting down")
	cancelBase()
	for ss := range server.Sessions() {
		ss.Close()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// streamableHandler serves stateful sessions, and clients of the stateless
// revision (2026-07-28 and later, no session id) without a session.
func streamableHandler(server *mcp.Server) http.Handler {
	get := func(*http.Request) *mcp.Server { return server }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("MCP-Protocol-Version") >= "2026-07-28" {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
}
