// Command floorproxy is the least an MCP proxy can do, for the benchmarks
// only: the floor against which Argus's cost per call is judged. It serves
// streamable HTTP on a loopback address and relays every JSON-RPC request
// to one stdio backend, with nothing on the way: no sessions but an id, no
// authentication, no audit, no telemetry, no parameter checks, no
// aggregation. What it does is what any proxy in front of a stdio server
// must do, in the cheapest way Go's standard library offers: read the POST,
// give the request an id of its own, write it to the child's stdin, match
// the answer line by id, put the client's id back and write the answer as
// application/json.
//
// Usage:
//
//	floorproxy [-listen 127.0.0.1:0] -- COMMAND [ARG...]
//	floorproxy [-listen 127.0.0.1:0] -url http://127.0.0.1:PORT/mcp
//
// With -url the backend is a streamable-HTTP server instead: one session,
// and each request a POST of its own (an SSE-framed answer is read up to
// the event that holds it).
//
// Once the backend has answered its initialize, a single line
// "listening on http://HOST:PORT/mcp" goes to stderr. A client's
// initialize is answered with the backend's own result, and its
// notifications are accepted (202) without being relayed; messages the
// backend sends unasked are dropped. It is no gateway: Argus's benchmarks
// start it, nothing else should.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/argusmcp/argus/internal/proctune"
)

// maxBody bounds a request body and a backend line.
const maxBody = 4 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	url := flag.String("url", "", "a streamable-HTTP backend's endpoint, instead of a command")
	flag.Parse()
	// The same fitting of GOMAXPROCS to the CPU used as every argus
	// process: the floor is the least a proxy does, and a proxy that never
	// needs a second core gains nothing from waking one.
	proctune.Adapt(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *url, flag.Args(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "floorproxy:", err)
		os.Exit(1)
	}
}

// relay is the backend: exchange sends a JSON-RPC request (without an
// id) and returns its answer line, notify sends a notification.
type relay interface {
	exchange(ctx context.Context, msg []byte) ([]byte, error)
	notify(msg []byte) error
}

// run serves until ctx ends; the "listening on" line and the backend's
// stderr go to stderr.
func run(ctx context.Context, listen, url string, command []string, stderr io.Writer) error {
	if (len(command) == 0) == (url == "") {
		return errors.New("usage: floorproxy [-listen ADDR] -- COMMAND [ARG...] | floorproxy [-listen ADDR] -url URL")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: only a loopback address is allowed", listen)
	}
	var b relay
	if url != "" {
		b = &httpBackend{url: url, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	} else {
		bctx, stopBackend := context.WithCancel(ctx)
		cmd := exec.CommandContext(bctx, command[0], command[1:]...)
		cmd.Stderr = stderr
		cmd.WaitDelay = time.Second // what it started may hold the pipes
		defer stopBackend()
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
		defer func() { stopBackend(); cmd.Wait() }() // however run returns, the backend ends
		s := &stdioBackend{in: stdin, waiting: map[int64]chan []byte{}}
		go s.read(stdout)
		b = s
	}

	initCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	initResult, err := call(initCtx, b, "initialize", json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"floorproxy","version":"0"}}`))
	if err != nil {
		return fmt.Errorf("backend initialize: %w", err)
	}
	if err := b.notify([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		return fmt.Errorf("backend: %w", err)
	}

	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &proxy{b: b, initResult: initResult}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stderr, "listening on http://%s/mcp\n", l.Addr())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// stdioBackend is a stdio child: requests written to in, answers matched
// by the proxy's own numeric ids.
type stdioBackend struct {
	wmu sync.Mutex
	in  io.Writer

	mu      sync.Mutex
	next    int64
	waiting map[int64]chan []byte // answer lines by id
	err     error                 // set when stdout ended
}

func (b *stdioBackend) notify(msg []byte) error { return b.write(msg) }

func (b *stdioBackend) write(line []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	_, err := b.in.Write(append(line, '\n'))
	return err
}

// call sends method with params and returns the answer's result, or its
// error as a Go error.
func call(ctx context.Context, b relay, method string, params json.RawMessage) (json.RawMessage, error) {
	line, err := b.exchange(ctx, request(method, params))
	if err != nil {
		return nil, err
	}
	var a answer
	if err := json.Unmarshal(line, &a); err != nil {
		return nil, err
	}
	if a.Error != nil {
		return nil, fmt.Errorf("%s", a.Error)
	}
	return a.Result, nil
}

// request is a JSON-RPC request object without an id.
func request(method string, params json.RawMessage) []byte {
	msg, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params,omitempty"`
	}{"2.0", method, params})
	return msg
}

// withID puts "id":id first into msg, a JSON object without one.
func withID(msg []byte, id int64) []byte {
	line := make([]byte, 0, len(msg)+24)
	line = append(line, `{"id":`...)
	line = strconv.AppendInt(line, id, 10)
	line = append(line, ',')
	return append(line, bytes.TrimPrefix(bytes.TrimSpace(msg), []byte("{"))...)
}

// exchange sends msg under a fresh id and returns the answer's line.
func (b *stdioBackend) exchange(ctx context.Context, msg []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return nil, b.err
	}
	b.next++
	id := b.next
	b.waiting[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
	}()
	if err := b.write(withID(msg, id)); err != nil {
		return nil, err
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, b.err
		}
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type answer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// read hands every answer line to its caller until stdout ends.
func (b *stdioBackend) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), maxBody)
	for sc.Scan() {
		var a struct {
			ID *int64 `json:"id"`
		}
		if json.Unmarshal(sc.Bytes(), &a) != nil || a.ID == nil {
			continue // not an answer of ours (a notification, a request)
		}
		b.mu.Lock()
		ch := b.waiting[*a.ID]
		b.mu.Unlock()
		if ch != nil {
			select {
			case ch <- bytes.Clone(sc.Bytes()):
			default:
			}
		}
	}
	b.mu.Lock()
	b.err = fmt.Errorf("backend stdout ended: %v", sc.Err())
	for id, ch := range b.waiting {
		close(ch)
		delete(b.waiting, id)
	}
	b.mu.Unlock()
}

// httpBackend is a streamable-HTTP server: one session, a POST per request.
type httpBackend struct {
	url     string
	client  *http.Client
	next    atomic.Int64
	session atomic.Pointer[string]
}

func (h *httpBackend) post(ctx context.Context, msg []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(msg))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if s := h.session.Load(); s != nil {
		req.Header.Set("Mcp-Session-Id", *s)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("backend: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" && h.session.Load() == nil {
		h.session.Store(&s)
	}
	return resp, nil
}

func (h *httpBackend) notify(msg []byte) error {
	resp, err := h.post(context.Background(), msg)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// exchange posts msg under a fresh id and returns the answer: the body, or
// from an SSE body, the data of the event that holds it.
func (h *httpBackend) exchange(ctx context.Context, msg []byte) ([]byte, error) {
	resp, err := h.post(ctx, withID(msg, h.next.Add(1)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return io.ReadAll(io.LimitReader(resp.Body, maxBody))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 16<<10), maxBody)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:"))
		if !ok {
			continue
		}
		// The answer, not a priming event (no data) or a message the
		// backend sends while it works (a method).
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(data, &m) == nil && m.ID != nil && m.Method == "" {
			return bytes.Clone(bytes.TrimSpace(data)), nil
		}
	}
	return nil, fmt.Errorf("backend: event stream ended without an answer: %v", sc.Err())
}

// proxy serves the client side.
type proxy struct {
	b          relay
	initResult json.RawMessage
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodDelete:
		return
	default:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Method == "" {
		http.Error(w, "want one JSON-RPC request or notification", http.StatusBadRequest)
		return
	}
	if req.ID == nil { // a notification
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var out []byte
	switch req.Method {
	case "initialize":
		sid := make([]byte, 16)
		rand.Read(sid)
		w.Header().Set("Mcp-Session-Id", hex.EncodeToString(sid))
		out = reply(req.ID, p.initResult, nil)
	default:
		line, err := p.b.exchange(r.Context(), request(req.Method, req.Params))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var a answer
		if err := json.Unmarshal(line, &a); err != nil {
			http.Error(w, "backend: "+err.Error(), http.StatusBadGateway)
			return
		}
		out = reply(req.ID, a.Result, a.Error)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
}

// reply is a JSON-RPC answer with the client's id.
func reply(id, result, rpcErr json.RawMessage) []byte {
	out := make([]byte, 0, len(id)+len(result)+len(rpcErr)+40)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, id...)
	if rpcErr != nil {
		out = append(out, `,"error":`...)
		out = append(out, rpcErr...)
	} else {
		out = append(out, `,"result":`...)
		out = append(out, result...)
	}
	return append(out, '}')
}
