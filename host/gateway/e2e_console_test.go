package gateway_test

// The web console (host/console) in a real browser: Debian's Chromium,
// headless, driven with chromedp against a real argus with two demo
// backends. Run with `make e2e-console`, which installs chromium when it
// can; `make screenshots` also writes docs/console-backends.png.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/internal/testbin"
)

// pageLog collects what the browser saw: every request URL and every
// error it would show in its console.
type pageLog struct {
	mu       sync.Mutex
	requests []string
	errors   []string
}

func (p *pageLog) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		p.requests = append(p.requests, ev.Request.URL)
	case *runtime.EventExceptionThrown:
		p.errors = append(p.errors, "exception: "+ev.ExceptionDetails.Text+" "+fmt.Sprint(ev.ExceptionDetails.Exception.Description))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p.errors = append(p.errors, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	case *log.EventEntryAdded: // failed loads (a missing favicon), CSP violations
		if ev.Entry.Level == log.EntryLevelError {
			p.errors = append(p.errors, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	}
}

func (p *pageLog) snapshot() (requests, errs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...), append([]string(nil), p.errors...)
}

// chromium finds Debian's chromium ($ARGUS_CHROMIUM overrides), or skips.
func chromium(t *testing.T) string {
	if p := os.Getenv("ARGUS_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testbin.Unavailable(t, "chromium is not installed (make e2e-console installs Debian's chromium when it can)")
	return ""
}

func TestE2EConsole(t *testing.T) {
	if os.Getenv("ARGUS_E2E_CONSOLE") == "" {
		t.Skip("the browser test runs with make e2e-console (ARGUS_E2E_CONSOLE=1)")
	}
	chrome := chromium(t)
	shots := t.TempDir() // $ARGUS_CONSOLE_SHOTS keeps them elsewhere (a CI artefact)
	if dir := os.Getenv("ARGUS_CONSOLE_SHOTS"); dir != "" {
		shots = dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Telemetry to a collector that is not there: the overview shows the
	// exporter's spans lost (or taken) within a second.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "500")
	t.Setenv("ARGUS_E2E_ALICE", "alice-token-0123456789")
	t.Setenv("ARGUS_E2E_BOB", "bob-token-0123456789ab")
	betaURL := startDemoHTTP(t, "beta")
	url, _ := startArgus(t, mgmtBlock+fmt.Sprintf(`
auth {
  token "alice" { value = env("ARGUS_E2E_ALICE") }
  token "bob"   { value = env("ARGUS_E2E_BOB") }
}
health {
  interval          = "250ms"
  timeout           = "1s"
  failure_threshold = 2
}
audit {
  file = %s
}
telemetry {
  enabled = true
  exporter "otlp" "nowhere" {
    endpoint = "127.0.0.1:%d"
    insecure = true
    timeout     = "1s"
    max_elapsed = "1s"
  }
}
`, hclString(filepath.Join(t.TempDir(), "audit.jsonl")), testbin.FreePort(t))+
		strings.Replace(demoStdio(t, "alpha"), `type = "stdio"`, `type = "stdio"
  retry_backoff = "500ms"`, 1)+fmt.Sprintf(`
backend "beta" {
  type = "streamable-http"
  url  = %q
}
`, betaURL))
	base := strings.TrimSuffix(url, "/mcp")

	// Traffic the pages should show: alice 3 calls and a failed one, bob 2.
	alice := connectWithToken(t, url, "alice-token-0123456789")
	bob := connectWithToken(t, url, "bob-token-0123456789ab")
	for i := range 3 {
		call(t, alice, "alpha_echo", map[string]any{"message": fmt.Sprint("hello ", i)})
	}
	failCall(t, alice, "beta_fail")
	call(t, bob, "beta_add", map[string]any{"a": 1, "b": 2})
	call(t, bob, "alpha_echo", map[string]any{"message": "bob"})

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)...)
	defer cancelAlloc()
	plog := &pageLog{}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(plog.listen))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	defer cancelTimeout()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// wait polls a JavaScript condition in the page.
	wait := func(what, cond string, d time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	shot := func(name string) []byte {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		return png
	}

	// Login: a wrong token is refused; the right one opens the Overview.
	do("open the console", chromedp.Navigate(base+"/manage/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	shot("login")
	do("sign in", chromedp.SendKeys(chromedp.ID("token"), mgmtToken), chromedp.Click(chromedp.CSS(`#login-form button`)))
	wait("overview", `location.hash === '#/overview' && document.querySelectorAll('.stat').length >= 10`, 20*time.Second)
	if tok := eval(`sessionStorage.getItem('argus.token')`); tok != mgmtToken {
		t.Fatalf("session storage holds %q", tok)
	}

	// Overview: the real status, traffic and audit queue.
	overview := eval(`document.querySelector('.page').innerText`)
	for _, want := range []string{"healthy", "2 / 2", "backends ready", "stateless requests in flight", "Audit queues", "sink.default", "Span exporters", "exporter.nowhere"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q:\n%s", want, overview)
		}
	}
	wait("the exporter's spans counted", `[...document.querySelectorAll('tr.exporter')].some(r =>
	  Number(r.querySelector('.exported').innerText) + Number(r.querySelector('.lost').innerText) > 0)`, 15*time.Second)
	wait("a request rate", `document.querySelector('.rate-requests .stat-value').innerText !== '0.00' &&
	  document.querySelector('.rate-errors .stat-value').innerText !== '0.0 %'`, 10*time.Second)
	wait("traffic bars with an error", `document.querySelectorAll('.bars rect.bar-ok').length > 0 && document.querySelectorAll('.bars rect.bar-err').length > 0`, 10*time.Second)
	shot("overview")

	// Backends: two Ready cards with latency history and capability counts.
	do("backends page", chromedp.Navigate(base+"/manage/ui/#/backends"))
	wait("two Ready cards with sparklines",
		`['alpha','beta'].every(n => { const c = document.querySelector('article[data-backend="'+n+'"]');
		   return c && c.dataset.phase === 'Ready' && c.querySelector('svg.spark polyline') && /\d+ tools/.test(c.innerText); })`, 20*time.Second)
	card := eval(`document.querySelector('article[data-backend="alpha"]').innerText`)
	for _, want := range []string{"stdio", "last check", "tools", "prompts", "conditions"} {
		if !strings.Contains(card, want) {
			t.Errorf("alpha's card lacks %q:\n%s", want, card)
		}
	}

	// Kill alpha: its card turns Failed and back to Ready without a reload.
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__sameDocument = 'yes'`))
	pid, _ := strconv.Atoi(call(t, alice, "alpha_pid", nil))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait("alpha Failed", `document.querySelector('article[data-backend="alpha"]')?.dataset.phase === 'Failed'`, 20*time.Second)
	shot("backends-failed")
	wait("alpha Ready again", `document.querySelector('article[data-backend="alpha"]')?.dataset.phase === 'Ready'`, 30*time.Second)
	if eval(`String(window.__sameDocument)`) != "yes" {
		t.Error("the page reloaded while alpha failed and recovered")
	}
	// The sparkline's history outlives the reconnect (the check counters
	// restart with the new connection).
	if b := backendStatus(t, url, "alpha"); len(b.Health.History) <= b.Health.Checks {
		t.Errorf("alpha's history has %d checks, its counter %d: want the checks before the kill kept", len(b.Health.History), b.Health.Checks)
	}

	// Reconnect (with its inline confirmation) and reload with its result.
	do("reconnect beta",
		chromedp.Click(chromedp.CSS(`article[data-backend="beta"] .actions button`)),
		chromedp.Click(chromedp.CSS(`article[data-backend="beta"] .actions button.danger`)))
	wait("reconnect noted", `document.querySelector('article[data-backend="beta"] .note')?.innerText === 'reconnect requested'`, 10*time.Second)
	do("reload", chromedp.Click(chromedp.CSS(`.toolbar .confirm button`)), chromedp.Click(chromedp.CSS(`.toolbar .confirm button.danger`)))
	wait("reload applied", `/Applied: nothing changed/.test(document.getElementById('reload-result').innerText)`, 20*time.Second)
	if r := eval(`document.getElementById('reload-result').innerText`); strings.TrimSpace(r) != "Applied: nothing changed" {
		t.Errorf("reload result %q", r)
	}
	wait("both Ready and checked since, for the picture", `[...document.querySelectorAll('article.card')].every(c =>
	  c.dataset.phase === 'Ready' && c.querySelector('.last-check').innerText !== 'never')`, 30*time.Second)
	png := shot("backends")
	if out := os.Getenv("ARGUS_CONSOLE_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}

	// Audit explorer: filter by user and outcome, expand an event, tail.
	do("audit page", chromedp.Navigate(base+"/manage/ui/#/audit"))
	wait("audit rows", `document.querySelectorAll('tr.event').length >= 7`, 10*time.Second)
	do("filter alice's errors",
		chromedp.SendKeys(chromedp.CSS(`#audit-filters input[name=user]`), "alice"),
		chromedp.SetValue(chromedp.CSS(`#audit-filters select[name=status]`), "error"),
		chromedp.Click(chromedp.CSS(`#audit-filters button[type=submit]`)))
	wait("one matching event", `document.querySelectorAll('tr.event').length === 1 && /^1 events/.test(document.getElementById('audit-count').innerText)`, 10*time.Second)
	row := eval(`document.querySelector('tr.event').innerText`)
	if !strings.Contains(row, "alice") || !strings.Contains(row, "error") || !strings.Contains(row, "beta_fail") {
		t.Errorf("filtered row: %q", row)
	}
	do("expand it", chromedp.Click(chromedp.CSS(`tr.event`)))
	wait("full JSON", `(() => { const pre = document.querySelector('tr.event-detail:not([hidden]) pre.json');
	  if (!pre) return false; const e = JSON.parse(pre.innerText);
	  return e.source.user_id === 'alice' && e.outcome.status === 'error' && e.event_id.length === 36; })()`, 5*time.Second)
	do("live tail", chromedp.Click(chromedp.ID("tail")))
	wait("tail connected", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
	failCall(t, alice, "alpha_fail")
	call(t, bob, "alpha_echo", map[string]any{"message": "filtered out"})
	wait("the new error tailed", `document.querySelectorAll('tr.event').length === 2 && /alpha_fail/.test(document.querySelector('tr.event').innerText)`, 10*time.Second)
	shot("audit")

	// Plugins: the running default audit sink with its pid and hash.
	do("plugins page", chromedp.Navigate(base+"/manage/ui/#/plugins"))
	wait("plugin rows", `[...document.querySelectorAll('tr.plugin')].some(r => /running/.test(r.innerText) && /^\d+$/.test(r.querySelector('.pid').innerText) && /^[0-9a-f]{16}…$/.test(r.querySelector('.hash').innerText))`, 10*time.Second)
	shot("plugins")

	// Capabilities: search, with owner and original names.
	do("capabilities page", chromedp.Navigate(base+"/manage/ui/#/capabilities"))
	wait("catalogue", `document.querySelectorAll('tr.capability').length > 10`, 10*time.Second)
	do("search", chromedp.SendKeys(chromedp.ID("cap-search"), "beta_add_tool"))
	wait("one match", `document.querySelectorAll('tr.capability').length === 1`, 5*time.Second)
	if r := eval(`document.querySelector('tr.capability').innerText`); !strings.Contains(r, "\tbeta\t") || !strings.Contains(r, "\tadd_tool\t") {
		t.Errorf("capability row %q: want owner beta and original name add_tool", r)
	}
	shot("capabilities")

	// Nothing but Argus's own origin was asked, the token was never in a
	// URL, and the page logged no error (a missing favicon would be one).
	requests, errs := plog.snapshot()
	if len(requests) < 10 {
		t.Errorf("only %d requests seen: %v", len(requests), requests)
	}
	sawStream := false
	for _, r := range requests {
		if !strings.HasPrefix(r, base+"/") {
			t.Errorf("request to another origin: %s", r)
		}
		if strings.Contains(r, mgmtToken) {
			t.Errorf("token in a URL: %s", r)
		}
		sawStream = sawStream || strings.HasPrefix(r, base+"/manage/v1/events/stream")
	}
	if !sawStream {
		t.Error("the backends page never opened /manage/v1/events/stream")
	}
	if href := eval(`location.href`); strings.Contains(href, mgmtToken) {
		t.Errorf("token in the location: %s", href)
	}
	for _, e := range errs {
		t.Errorf("browser console: %s", e)
	}

	// Signing out forgets the token; a wrong one is refused on the login
	// page (its 401 is the one console error this part may cause).
	do("sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token")))
	if tok := eval(`String(sessionStorage.getItem('argus.token'))`); tok != "null" {
		t.Errorf("token kept after sign-out: %q", tok)
	}
	do("wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-the-token-0123456789"), chromedp.Click(chromedp.CSS(`#login-form button`)))
	wait("refused", `document.getElementById('login-error').innerText === 'That token is not accepted.'`, 10*time.Second)
	t.Logf("screenshots in %s", shots)
}

// failCall makes a call that ends in an error (a JSON-RPC error from the
// demo's fail tool).
func failCall(t *testing.T, s *mcp.ClientSession, tool string) {
	t.Helper()
	if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": "boom"}}); err == nil {
		t.Fatalf("%s succeeded", tool)
	}
}
