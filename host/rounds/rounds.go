// Package rounds holds the multi-round-trip calls (SEP-2322) Argus bridges
// for stateless clients.
//
// A client of revision 2026-07-28 or newer cannot be sent requests while its
// call is in flight: when the server needs sampling, elicitation or roots it
// ends the call with an InputRequiredResult (inputRequests + requestState),
// and the client retries the same request with inputResponses and the
// echoed requestState. A backend Argus speaks to over an older, stateful
// session instead sends those requests during the call and waits for the
// answers. The bridge keeps that backend call running across the client's
// retries: a Call collects the backend's requests (Ask), hands them to the
// client as one round (Wait), and on the retry (Resume) answers them and
// keeps waiting on the same backend call.
//
// The requestState Argus issues is HMAC-SHA256-signed with a key drawn at
// random when the Bridge is made (so it does not survive a restart) and
// binds the call and round to the user, the client identity and the method
// and capability name of the request; a state that fails any of these is
// refused with ErrInvalidState.
//
// Lifecycle: a Call exists from its first backend request until its final
// result is handed to the client. While parked (an InputRequiredResult was
// returned and the retry has not come yet) it counts against the per-user
// and total limits and expires after Options.Expiry: the backend's pending
// requests then get an error and the backend call is cancelled. Close
// expires every parked call.
package rounds

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of Options.
const (
	DefaultWindow     = 30 * time.Millisecond
	DefaultExpiry     = 60 * time.Second
	DefaultMaxPerUser = 32
	DefaultMaxTotal   = 1024
)

// Options bound the bridge. Zero values take the defaults above.
type Options struct {
	// Window is how long a round stays open for further backend requests
	// after the first one, so that requests a backend makes together reach
	// the client as one InputRequiredResult. Default 30 ms.
	Window time.Duration
	// Expiry is how long a parked call waits for the client's retry.
	// Default 60 s.
	Expiry time.Duration
	// MaxPerUser and MaxTotal cap the calls held at once, per user and in
	// all: a call is held from its first round until it finishes, retries
	// included. Defaults 32 and 1024.
	MaxPerUser, MaxTotal int
}

// Errors a retry or a round can end with. Callers map ErrInvalidState and
// ErrExpired to JSON-RPC invalid params, ErrLimit to a limit error.
var (
	ErrInvalidState = errors.New("invalid requestState")
	ErrExpired      = errors.New("the call this requestState belongs to has expired or finished")
	ErrLimit        = errors.New("too many calls are waiting for client input")
	ErrClosed       = errors.New("the gateway is shutting down")
	ErrTimeout      = errors.New("no result or input request within the call timeout")
)

// Binding is what a requestState is bound to: the retry must come from the
// same user and client, for the same method and capability.
type Binding struct {
	User   string `json:"u,omitempty"`
	Client string `json:"k,omitempty"`
	Method string `json:"m"`
	Name   string `json:"n,omitempty"`
}

// Bridge is the table of multi-round-trip calls. It is safe for concurrent
// use; Close ends it.
type Bridge struct {
	opts Options
	key  []byte

	mu      sync.Mutex
	held    map[string]*Call // parked calls by id
	perUser map[string]int
	closed  bool
}

// New returns a Bridge with a fresh random signing key.
func New(opts Options) *Bridge {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Expiry <= 0 {
		opts.Expiry = DefaultExpiry
	}
	if opts.MaxPerUser <= 0 {
		opts.MaxPerUser = DefaultMaxPerUser
	}
	if opts.MaxTotal <= 0 {
		opts.MaxTotal = DefaultMaxTotal
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("rounds: no randomness for the signing key: " + err.Error())
	}
	return &Bridge{opts: opts, key: key, held: map[string]*Call{}, perUser: map[string]int{}}
}

// Held is the number of calls parked now.
func (b *Bridge) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

// Close expires every parked call and refuses new rounds. Calls still
// attached to a client request finish through their own contexts.
func (b *Bridge) Close() {
	b.mu.Lock()
	b.closed = true
	calls := make([]*Call, 0, len(b.held))
	for _, c := range b.held {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	for _, c := range calls {
		// A resumed call stays in the table until it finishes; its retry
		// is waiting on it, so it is not expired here. Should it ask for
		// input again, park refuses the round (ErrClosed).
		c.abandonWhen(ErrClosed, true)
	}
}

// Start begins a call whose backend side is being run; cancel ends that
// backend call and is called when the logical call is abandoned (expiry,
// client gone, Close). The call is attached to the client request that
// started it.
func (b *Bridge) Start(bind Binding, cancel func()) *Call {
	return &Call{
		b: b, id: randomID(), bind: bind, cancel: cancel, attached: true,
		asks: map[string]*ask{}, wake: make(chan struct{}, 1),
		done: make(chan struct{}), gone: make(chan struct{}),
	}
}

// Call is one logical call spanning several client requests.
type Call struct {
	// Value is the caller's own data about the call, set before the call
	// is shared (Resume returns the call, Value included).
	Value any
	// Unclaimed, if set (before the call is shared), is called once when
	// the call is abandoned while no client request waits on it: its round
	// expired without a retry (ErrExpired) or the bridge closed
	// (ErrClosed). No client request then ends the logical call, so this
	// is the caller's one chance to record its end. It runs on the
	// goroutine that abandoned the call, after the backend side was told.
	Unclaimed func(err error)

	b      *Bridge
	id     string
	bind   Binding
	cancel func()

	mu        sync.Mutex
	round     int             // rounds handed to the client so far
	seq       int             // for input ids
	asks      map[string]*ask // backend requests not yet answered, by input id
	attached  bool            // a client request is waiting on the call
	held      bool            // parked in the bridge's table
	timer     *time.Timer     // expiry while parked
	finished  bool
	res       mcp.Result
	err       error
	abandoned error

	wake chan struct{} // a backend request arrived
	done chan struct{} // the backend call finished
	gone chan struct{} // the call was abandoned
}

type ask struct {
	method string
	params mcp.InputRequest
	reply  chan reply
}

type reply struct {
	res mcp.InputResponse
	err error
}

// Rounds is how many InputRequiredResults the call has handed out.
func (c *Call) Rounds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.round
}

// Parked reports whether the call is waiting for the client's retry: a
// backend request arriving now is not one of this call's.
func (c *Call) Parked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.attached && !c.finished
}

// MethodOf is the JSON-RPC method of an input request.
func MethodOf(p mcp.InputRequest) string {
	switch p.(type) {
	case *mcp.ElicitParams:
		return "elicitation/create"
	case *mcp.CreateMessageParams, *mcp.CreateMessageWithToolsParams:
		return "sampling/createMessage"
	case *mcp.ListRootsParams:
		return "roots/list"
	}
	return ""
}

// Ask hands a backend request to the client and waits for its answer: the
// backend side of the bridge. key names the request in inputRequests when
// given and not yet used in this call; otherwise an id is made up. It
// returns when the client answered, ctx ends, or the call is abandoned.
func (c *Call) Ask(ctx context.Context, key string, params mcp.InputRequest) (mcp.InputResponse, error) {
	a := &ask{method: MethodOf(params), params: params, reply: make(chan reply, 1)}
	c.mu.Lock()
	if c.abandoned != nil {
		err := c.abandoned
		c.mu.Unlock()
		return nil, err
	}
	c.seq++
	if _, used := c.asks[key]; key == "" || used {
		key = fmt.Sprintf("%s-%d", strings.ReplaceAll(a.method, "/", "-"), c.seq)
	}
	c.asks[key] = a
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	select {
	case r := <-a.reply:
		return r.res, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if c.asks[key] == a {
			// Still its own: a retry may have answered it (taking it out)
			// and a later request been asked under the same key.
			delete(c.asks, key)
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	case <-c.gone:
		c.mu.Lock()
		err := c.abandoned
		c.mu.Unlock()
		return nil, err
	}
}

// Finish records the backend call's outcome: the backend side's last word.
func (c *Call) Finish(res mcp.Result, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.finished, c.res, c.err = true, res, err
	close(c.done)
}

// Outcome is what a client request waiting on a call ends with: either
// the final result (Result, Err) or a round of input requests (Inputs,
// State).
type Outcome struct {
	Inputs mcp.InputRequestMap
	State  string
	Result mcp.Result
	Err    error
}

// Wait waits, on behalf of the attached client request, for the backend
// call to finish or ask for input. A first backend request opens a round
// that collects further requests for Options.Window; the round is then
// handed out (the call parks until Resume). limit bounds the wait for the
// backend (0: none); when it passes, or ctx ends, the call is abandoned.
// The returned error is one of this package's errors or ctx's.
func (c *Call) Wait(ctx context.Context, limit time.Duration) (Outcome, error) {
	var deadline <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		deadline = t.C
	}
	for {
		c.mu.Lock()
		if c.finished {
			out := Outcome{Result: c.res, Err: c.err}
			c.mu.Unlock()
			c.release()
			return out, nil
		}
		asked := len(c.asks) > 0
		c.mu.Unlock()
		if asked {
			break
		}
		select {
		case <-c.wake:
		case <-c.done:
		case <-c.gone:
			return Outcome{}, c.abandonErr()
		case <-ctx.Done():
			c.abandon(ctx.Err())
			return Outcome{}, ctx.Err()
		case <-deadline:
			c.abandon(ErrTimeout)
			return Outcome{}, ErrTimeout
		}
	}
	// A backend that asks for several inputs at once sends them one after
	// the other; give the rest a moment to arrive.
	w := time.NewTimer(c.b.opts.Window)
	select {
	case <-w.C:
	case <-c.done:
		w.Stop()
	case <-c.gone:
		w.Stop()
		return Outcome{}, c.abandonErr()
	case <-ctx.Done():
		w.Stop()
		c.abandon(ctx.Err())
		return Outcome{}, ctx.Err()
	}
	return c.park()
}

// park hands the outstanding backend requests to the client as a round.
func (c *Call) park() (Outcome, error) {
	c.mu.Lock()
	if c.finished {
		out := Outcome{Result: c.res, Err: c.err}
		c.mu.Unlock()
		c.release()
		return out, nil
	}
	if err := c.b.hold(c); err != nil {
		c.mu.Unlock()
		c.abandon(err)
		return Outcome{}, err
	}
	c.round++
	c.attached = false
	inputs := make(mcp.InputRequestMap, len(c.asks))
	for id, a := range c.asks {
		inputs[id] = a.params
	}
	round := c.round
	c.timer = time.AfterFunc(c.b.opts.Expiry, func() { c.abandon(ErrExpired) })
	c.mu.Unlock()
	return Outcome{Inputs: inputs, State: c.b.seal(state{ID: c.id, Round: round, Binding: c.bind,
		Expires: time.Now().Add(c.b.opts.Expiry).Unix()})}, nil
}

// Resume continues a call on the client's retry: it verifies requestState
// against bind, attaches the retry to the call, and answers the backend's
// requests with responses (keyed by the ids of the last round; an id the
// call did not ask, or an answer of the wrong kind, is ignored and its
// request is asked again in the next round). attach, if not nil, runs
// once the call is claimed for this retry and before any answer is
// delivered: what the backend sends in reply to the answers (progress,
// log messages) then already finds the retry. The caller then Waits.
func (b *Bridge) Resume(requestState string, bind Binding, responses mcp.InputResponseMap, attach func(*Call)) (*Call, error) {
	st, err := b.open(requestState)
	if err != nil {
		return nil, err
	}
	if st.Binding != bind {
		return nil, fmt.Errorf("%w: it was issued for another user, client or request", ErrInvalidState)
	}
	if time.Now().Unix() > st.Expires {
		return nil, ErrExpired
	}
	b.mu.Lock()
	c := b.held[st.ID]
	b.mu.Unlock()
	if c == nil {
		return nil, ErrExpired
	}
	c.mu.Lock()
	if c.attached || st.Round != c.round || c.abandoned != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: this round was already answered", ErrInvalidState)
	}
	var deliver []func()
	for id, r := range responses {
		a := c.asks[id]
		if a == nil || !answers(a.method, r) {
			continue
		}
		delete(c.asks, id)
		deliver = append(deliver, func() { a.reply <- reply{res: r} })
	}
	c.attached = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	// Outside c.mu: attach may take its caller's locks, which are held
	// elsewhere while asking Parked. Each reply channel has room for its
	// one answer and no other sender once the ask left c.asks.
	if attach != nil {
		func() {
			defer func() {
				if v := recover(); v != nil {
					// Nothing will Wait on the call: end it rather than
					// leave the backend waiting and the call held.
					c.abandon(fmt.Errorf("argus: resuming the call failed: %v", v))
					panic(v)
				}
			}()
			attach(c)
		}()
	}
	for _, d := range deliver {
		d()
	}
	return c, nil
}

// answers reports whether r is an answer to a request of method.
func answers(method string, r mcp.InputResponse) bool {
	switch r.(type) {
	case *mcp.ElicitResult:
		return method == "elicitation/create"
	case *mcp.CreateMessageResult, *mcp.CreateMessageWithToolsResult:
		return method == "sampling/createMessage"
	case *mcp.ListRootsResult:
		return method == "roots/list"
	}
	return false
}

// Abandon ends the call on behalf of its client: the backend's requests get
// err and the backend call is cancelled.
func (c *Call) Abandon(err error) { c.abandon(err) }

func (c *Call) abandon(err error) { c.abandonWhen(err, false) }

// abandonWhen is abandon; with unlessAttached it leaves a call alone that
// a client request is waiting on (decided under the same lock, so a retry
// claiming the call meanwhile is never cut off). A call that finished
// while parked is still abandoned: no request will take its result, and
// Unclaimed records its end.
func (c *Call) abandonWhen(err error, unlessAttached bool) {
	c.mu.Lock()
	if c.abandoned != nil || (unlessAttached && c.attached) {
		c.mu.Unlock()
		return
	}
	c.abandoned = err
	unclaimed := !c.attached
	close(c.gone)
	for id, a := range c.asks {
		a.reply <- reply{err: fmt.Errorf("argus: the client did not answer: %w", err)}
		delete(c.asks, id)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.release()
	c.cancel()
	if unclaimed && c.Unclaimed != nil {
		c.Unclaimed(err)
	}
}

func (c *Call) abandonErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abandoned
}

// hold puts c into the table of parked calls, within the limits. c.mu is
// held by the caller.
func (b *Bridge) hold(c *Call) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		// Also for a resumed call still in the table: no round after Close.
		return ErrClosed
	case c.held:
		return nil
	case len(b.held) >= b.opts.MaxTotal, b.perUser[c.bind.User] >= b.opts.MaxPerUser:
		return ErrLimit
	}
	c.held = true
	b.held[c.id] = c
	b.perUser[c.bind.User]++
	return nil
}

// release takes c out of the table.
func (c *Call) release() {
	b := c.b
	c.mu.Lock()
	held := c.held
	c.held = false
	c.mu.Unlock()
	if !held {
		return
	}
	b.mu.Lock()
	delete(b.held, c.id)
	if b.perUser[c.bind.User]--; b.perUser[c.bind.User] <= 0 {
		delete(b.perUser, c.bind.User)
	}
	b.mu.Unlock()
}

// state is the signed content of a requestState.
type state struct {
	ID    string `json:"c"`
	Round int    `json:"r"`
	Binding
	Expires int64 `json:"x"`
}

const stateVersion = "a1"

func (b *Bridge) seal(s state) string {
	payload, err := json.Marshal(s)
	if err != nil {
		panic("rounds: encoding a request state: " + err.Error())
	}
	body := stateVersion + "." + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(b.mac(body))
}

func (b *Bridge) open(token string) (state, error) {
	var s state
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !strings.HasPrefix(token, stateVersion+".") {
		return s, ErrInvalidState
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || !hmac.Equal(sig, b.mac(token[:i])) {
		return s, ErrInvalidState
	}
	payload, err := base64.RawURLEncoding.DecodeString(token[len(stateVersion)+1 : i])
	if err != nil || json.Unmarshal(payload, &s) != nil || s.ID == "" {
		return s, ErrInvalidState
	}
	return s, nil
}

func (b *Bridge) mac(body string) []byte {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

func randomID() string {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		panic("rounds: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}
