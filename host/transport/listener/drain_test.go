package listener

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestDrain: before the drain, responses keep their connection and State
// reports not draining; during it, State reports the end and every
// response carries "Connection: close"; a server error ends Run early.
func TestDrain(t *testing.T) {
	d := &Drain{}
	h := d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	get := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Header().Get("Connection")
	}
	if draining, _ := d.State(); draining || get() != "" {
		t.Fatalf("before Run: draining=%v Connection=%q, want false and none", draining, get())
	}
	if err := d.Run(0, nil, hclog.NewNullLogger()); err != nil {
		t.Fatalf("Run(0) = %v", err)
	}
	if draining, _ := d.State(); draining {
		t.Fatal("Run(0) started a drain")
	}

	errc := make(chan error, 1)
	done := make(chan error, 1)
	go func() { done <- d.Run(time.Hour, errc, hclog.NewNullLogger()) }()
	deadline := time.Now().Add(30 * time.Second)
	for draining, _ := d.State(); !draining; draining, _ = d.State() {
		if time.Now().After(deadline) {
			t.Fatal("drain never began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, until := d.State(); time.Until(until) < 50*time.Minute {
		t.Errorf("drain ends at %v, want about an hour from now", until)
	}
	if got := get(); got != "close" {
		t.Errorf("Connection during drain = %q, want close", got)
	}
	boom := errors.New("boom")
	errc <- boom
	if err := <-done; !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the server's error", err)
	}
}
