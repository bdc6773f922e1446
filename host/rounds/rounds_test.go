package rounds

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var bind = Binding{User: "alice", Client: "suite", Method: "tools/call", Name: "ask"}

// backend runs a fake backend call that asks for each batch of inputs in
// turn (the inputs of one batch concurrently) and finishes with the
// answers it got.
func backend(t *testing.T, b *Bridge, batches ...[]mcp.InputRequest) (*Call, *sync.WaitGroup, chan []mcp.InputResponse) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := b.Start(bind, cancel)
	got := make(chan []mcp.InputResponse, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var all []mcp.InputResponse
		for _, batch := range batches {
			var mu sync.Mutex
			var bw sync.WaitGroup
			for _, p := range batch {
				bw.Add(1)
				go func() {
					defer bw.Done()
					r, err := c.Ask(ctx, "", p)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						all = append(all, r)
					}
				}()
			}
			bw.Wait()
			if ctx.Err() != nil {
				c.Finish(nil, ctx.Err())
				got <- all
				return
			}
		}
		c.Finish(&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil)
		got <- all
	}()
	return c, &wg, got
}

func answerAll(in mcp.InputRequestMap) mcp.InputResponseMap {
	out := mcp.InputResponseMap{}
	for id, p := range in {
		switch p.(type) {
		case *mcp.ElicitParams:
			out[id] = &mcp.ElicitResult{Action: "accept"}
		case *mcp.CreateMessageWithToolsParams:
			out[id] = &mcp.CreateMessageWithToolsResult{Model: "m"}
		case *mcp.ListRootsParams:
			out[id] = &mcp.ListRootsResult{Roots: []*mcp.Root{}}
		}
	}
	return out
}

func wait(t *testing.T, c *Call) Outcome {
	t.Helper()
	out, err := c.Wait(context.Background(), 10*time.Second)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return out
}

func TestSeveralInputsInOneRoundThenSecondRound(t *testing.T) {
	b := New(Options{Window: 100 * time.Millisecond})
	c, wg, got := backend(t, b,
		[]mcp.InputRequest{&mcp.ElicitParams{Message: "name?"}, &mcp.CreateMessageWithToolsParams{MaxTokens: 5}, &mcp.ListRootsParams{}},
		[]mcp.InputRequest{&mcp.ElicitParams{Message: "colour?"}})
	out := wait(t, c)
	if len(out.Inputs) != 3 || out.State == "" {
		t.Fatalf("round 1: want 3 inputs and a state, got %d inputs, state %q", len(out.Inputs), out.State)
	}
	if b.Held() != 1 {
		t.Fatalf("held = %d, want 1", b.Held())
	}
	c2, err := b.Resume(out.State, bind, answerAll(out.Inputs), nil)
	if err != nil || c2 != c {
		t.Fatalf("Resume: %v (same call %v)", err, c2 == c)
	}
	out2 := wait(t, c)
	if len(out2.Inputs) != 1 || out2.State == out.State {
		t.Fatalf("round 2: want 1 input and a new state, got %d, same state %v", len(out2.Inputs), out2.State == out.State)
	}
	// The first round's state is spent.
	if _, err := b.Resume(out.State, bind, answerAll(out.Inputs), nil); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("replaying round 1: %v, want ErrInvalidState", err)
	}
	if _, err := b.Resume(out2.State, bind, answerAll(out2.Inputs), nil); err != nil {
		t.Fatal(err)
	}
	fin := wait(t, c)
	if fin.Result == nil || fin.Err != nil || fin.Inputs != nil {
		t.Fatalf("final: %+v", fin)
	}
	if n := len(<-got); n != 4 {
		t.Fatalf("backend got %d answers, want 4", n)
	}
	if c.Rounds() != 2 || b.Held() != 0 {
		t.Fatalf("rounds %d held %d, want 2 and 0", c.Rounds(), b.Held())
	}
	wg.Wait()
}

func TestTamperedAndForeignState(t *testing.T) {
	b := New(Options{})
	c, wg, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{Message: "?"}})
	out := wait(t, c)
	body, sig, _ := strings.Cut(out.State[3:], ".")
	flip := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	for name, st := range map[string]string{
		"payload":   out.State[:3] + flip(body) + "." + sig,
		"signature": out.State[:3] + body + "." + flip(sig),
		"garbage":   "not a state",
		"empty":     "",
		"other key": New(Options{}).seal(state{ID: c.id, Round: 1, Binding: bind, Expires: time.Now().Add(time.Minute).Unix()}),
	} {
		if _, err := b.Resume(st, bind, answerAll(out.Inputs), nil); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: %v, want ErrInvalidState", name, err)
		}
	}
	for name, other := range map[string]Binding{
		"user":   {User: "mallory", Client: bind.Client, Method: bind.Method, Name: bind.Name},
		"client": {User: bind.User, Client: "other", Method: bind.Method, Name: bind.Name},
		"method": {User: bind.User, Client: bind.Client, Method: "prompts/get", Name: bind.Name},
		"name":   {User: bind.User, Client: bind.Client, Method: bind.Method, Name: "other"},
	} {
		if _, err := b.Resume(out.State, other, answerAll(out.Inputs), nil); !errors.Is(err, ErrInvalidState) {
			t.Errorf("foreign %s: %v, want ErrInvalidState", name, err)
		}
	}
	// The genuine state still works after all that.
	if _, err := b.Resume(out.State, bind, answerAll(out.Inputs), nil); err != nil {
		t.Fatal(err)
	}
	if fin := wait(t, c); fin.Result == nil {
		t.Fatalf("final: %+v", fin)
	}
	wg.Wait()
}

func TestExpiryCancelsBackend(t *testing.T) {
	b := New(Options{Expiry: 50 * time.Millisecond})
	c, wg, got := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{Message: "?"}})
	unclaimed := make(chan error, 2)
	c.Unclaimed = func(err error) { unclaimed <- err }
	out := wait(t, c)
	wg.Wait() // the backend's request failed and its call was cancelled
	select {
	case err := <-unclaimed:
		if !errors.Is(err, ErrExpired) {
			t.Fatalf("Unclaimed(%v), want ErrExpired", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Unclaimed not called for an expired round")
	}
	if n := len(<-got); n != 0 {
		t.Fatalf("backend got %d answers after expiry", n)
	}
	if b.Held() != 0 {
		t.Fatalf("held = %d after expiry", b.Held())
	}
	if _, err := b.Resume(out.State, bind, answerAll(out.Inputs), nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("retry after expiry: %v, want ErrExpired", err)
	}
	if len(unclaimed) != 0 {
		t.Fatalf("Unclaimed called again: %v", <-unclaimed)
	}
}

// TestCloseReportsParkedCalls: Close abandons a parked call, which no
// client request will end, so its owner hears of it.
func TestCloseReportsParkedCalls(t *testing.T) {
	b := New(Options{})
	c, wg, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{Message: "?"}})
	unclaimed := make(chan error, 1)
	c.Unclaimed = func(err error) { unclaimed <- err }
	wait(t, c)
	b.Close()
	wg.Wait()
	if err := <-unclaimed; !errors.Is(err, ErrClosed) {
		t.Fatalf("Unclaimed(%v), want ErrClosed", err)
	}
}

func TestLimits(t *testing.T) {
	b := New(Options{MaxPerUser: 1, MaxTotal: 2})
	c1, wg1, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{}})
	wait(t, c1)
	// A second call of the same user is over the per-user cap.
	c2, wg2, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{}})
	if _, err := c2.Wait(context.Background(), 10*time.Second); !errors.Is(err, ErrLimit) {
		t.Fatalf("second call of alice: %v, want ErrLimit", err)
	}
	wg2.Wait()
	// Another user's call fits, a third user's is over the total.
	bob := func() (*Call, *sync.WaitGroup) {
		ctx, cancel := context.WithCancel(context.Background())
		c := b.Start(Binding{User: "u" + time.Now().String(), Method: "tools/call"}, cancel)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); c.Ask(ctx, "k", &mcp.ListRootsParams{}); c.Finish(nil, ctx.Err()) }()
		return c, &wg
	}
	c3, wg3 := bob()
	if _, err := c3.Wait(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c4, wg4 := bob()
	if _, err := c4.Wait(context.Background(), 10*time.Second); !errors.Is(err, ErrLimit) {
		t.Fatalf("third parked call: %v, want ErrLimit", err)
	}
	wg4.Wait()
	if b.Held() != 2 {
		t.Fatalf("held = %d, want 2", b.Held())
	}
	b.Close()
	wg1.Wait()
	wg3.Wait()
	if b.Held() != 0 {
		t.Fatalf("held = %d after Close", b.Held())
	}
}

func TestMissingAnswerIsAskedAgain(t *testing.T) {
	b := New(Options{})
	c, wg, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{Message: "a"}, &mcp.ListRootsParams{}})
	out := wait(t, c)
	partial := mcp.InputResponseMap{}
	for id, p := range out.Inputs {
		if _, ok := p.(*mcp.ElicitParams); ok {
			partial[id] = &mcp.ElicitResult{Action: "decline"}
		}
		partial["unknown"] = &mcp.ElicitResult{Action: "accept"}
	}
	if _, err := b.Resume(out.State, bind, partial, nil); err != nil {
		t.Fatal(err)
	}
	out2 := wait(t, c)
	if len(out2.Inputs) != 1 {
		t.Fatalf("round 2 re-asks %d inputs, want the 1 unanswered", len(out2.Inputs))
	}
	for _, p := range out2.Inputs {
		if _, ok := p.(*mcp.ListRootsParams); !ok {
			t.Fatalf("re-asked %T, want roots", p)
		}
	}
	if _, err := b.Resume(out2.State, bind, answerAll(out2.Inputs), nil); err != nil {
		t.Fatal(err)
	}
	if fin := wait(t, c); fin.Result == nil {
		t.Fatalf("final %+v", fin)
	}
	wg.Wait()
}

func TestClientGoneAbandons(t *testing.T) {
	b := New(Options{})
	c, wg, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{}})
	out := wait(t, c)
	if _, err := b.Resume(out.State, bind, mcp.InputResponseMap{}, nil); err != nil {
		t.Fatal(err)
	}
	c.Unclaimed = func(err error) { t.Errorf("Unclaimed(%v) for a call its client request ended", err) }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a gone client: %v", err)
	}
	wg.Wait()
	if b.Held() != 0 {
		t.Fatalf("held = %d", b.Held())
	}
}

// TestAttachRunsBeforeAnswers: Resume's attach hook runs before the
// backend gets any answer, so that what the backend sends in reply (its
// progress, say) finds the retry and not the request that already ended.
func TestAttachRunsBeforeAnswers(t *testing.T) {
	b := New(Options{Window: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := b.Start(bind, cancel)
	answered := make(chan struct{})
	go func() {
		if _, err := c.Ask(ctx, "name", &mcp.ElicitParams{Message: "name?"}); err == nil {
			close(answered)
		}
		c.Finish(&mcp.CallToolResult{}, nil)
	}()
	out := wait(t, c)
	early := false
	c2, err := b.Resume(out.State, bind, answerAll(out.Inputs), func(got *Call) {
		if got != c {
			t.Errorf("attach got another call")
		}
		select {
		case <-answered:
			early = true
		case <-time.After(50 * time.Millisecond):
		}
	})
	if err != nil || c2 != c {
		t.Fatalf("Resume: %v", err)
	}
	if early {
		t.Fatal("the backend had its answer before attach ran")
	}
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend never got its answer")
	}
	if fin := wait(t, c); fin.Result == nil {
		t.Fatalf("final: %+v", fin)
	}
	// A refused retry never runs attach.
	if _, err := b.Resume(out.State, bind, nil, func(*Call) { t.Error("attach ran for a spent state") }); !errors.Is(err, ErrInvalidState) && !errors.Is(err, ErrExpired) {
		t.Fatalf("spent state: %v", err)
	}
}

// TestCloseSparesResumedCalls: Close expires parked calls only. A call
// whose retry is waiting on it finishes with its result; a further round
// it asks for is refused with ErrClosed.
func TestCloseSparesResumedCalls(t *testing.T) {
	b := New(Options{Window: time.Millisecond})
	c, wg, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{Message: "?"}})
	out := wait(t, c)
	// Resume, then close before the backend (which finishes right after its
	// answer) can: attach holds the backend's answer back until Close ran.
	if _, err := b.Resume(out.State, bind, answerAll(out.Inputs), func(*Call) { b.Close() }); err != nil {
		t.Fatal(err)
	}
	if fin := wait(t, c); fin.Result == nil || fin.Err != nil {
		t.Fatalf("after Close the resumed call ended with %+v, want its result", fin)
	}
	wg.Wait()

	// One that asks again after Close gets no new round.
	c2, wg2, _ := backend(t, New(Options{Window: time.Millisecond}), []mcp.InputRequest{&mcp.ElicitParams{}}, []mcp.InputRequest{&mcp.ElicitParams{}})
	out2 := wait(t, c2)
	if _, err := c2.b.Resume(out2.State, bind, answerAll(out2.Inputs), func(*Call) { c2.b.Close() }); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Wait(context.Background(), 10*time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("a round after Close: %v, want ErrClosed", err)
	}
	wg2.Wait()
}

// TestCloseReportsCallFinishedWhileParked: a call whose backend finished
// while it waited for a retry that never comes is still recorded as
// unclaimed at Close.
func TestCloseReportsCallFinishedWhileParked(t *testing.T) {
	b := New(Options{Window: time.Millisecond})
	c := b.Start(bind, func() {})
	unclaimed := make(chan error, 1)
	c.Unclaimed = func(err error) { unclaimed <- err }
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		c.Ask(ctx, "", &mcp.ElicitParams{})
		c.Finish(nil, errors.New("the backend gave up"))
	}()
	wait(t, c) // parked
	cancel()   // the backend stops waiting and finishes
	for !c.finishedNow() {
		time.Sleep(time.Millisecond)
	}
	b.Close()
	select {
	case err := <-unclaimed:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Unclaimed(%v), want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call finished while parked was not reported at Close")
	}
}

// TestCancelledAskKeepsALaterAsk: an ask whose context ends takes only
// itself out of the call, not a later ask that took its key after a retry
// answered it.
func TestCancelledAskKeepsALaterAsk(t *testing.T) {
	b := New(Options{})
	c := b.Start(bind, func() {})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Ask(ctx, "k", &mcp.ElicitParams{})
	}()
	for {
		c.mu.Lock()
		_, asked := c.asks["k"]
		c.mu.Unlock()
		if asked {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// As after a retry answered "k" and the backend asked again under it.
	later := &ask{method: "elicitation/create", params: &mcp.ElicitParams{}, reply: make(chan reply, 1)}
	c.mu.Lock()
	c.asks["k"] = later
	c.mu.Unlock()
	cancel()
	<-done
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.asks["k"] != later {
		t.Fatal("the cancelled ask removed the later ask under its key")
	}
}

// TestPanickingAttachEndsTheCall: if attach panics, the call is abandoned
// (its backend request gets an error, the bridge no longer holds it) and
// the panic goes on to the caller.
func TestPanickingAttachEndsTheCall(t *testing.T) {
	b := New(Options{Window: time.Millisecond})
	c, wg, _ := backend(t, b, []mcp.InputRequest{&mcp.ElicitParams{}})
	out := wait(t, c)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach Resume's caller")
			}
		}()
		b.Resume(out.State, bind, answerAll(out.Inputs), func(*Call) { panic("boom") })
	}()
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-ended: // its ask got an error and it was cancelled
	case <-time.After(10 * time.Second):
		t.Fatal("the backend call still waits after the panic")
	}
	if n := b.Held(); n != 0 {
		t.Fatalf("held %d calls after the panic, want 0", n)
	}
}

// finishedNow reports whether the backend side has finished.
func (c *Call) finishedNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}
