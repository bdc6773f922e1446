package health

import (
	"testing"
	"time"
)

func TestTransitionTable(t *testing.T) {
	// Every (phase, event) pair: valid ones move as the README's lifecycle diagram says, all
	// others are rejected and leave the phase alone.
	want := map[Phase]map[Event]Phase{
		Pending:      {EventStart: Initializing, EventStop: ShuttingDown},
		Initializing: {EventConnected: Ready, EventConnectFail: Failed, EventStop: ShuttingDown},
		Ready:        {EventHealthy: Ready, EventDegraded: Degraded, EventUnhealthy: Failed, EventLost: Failed, EventReconnect: Initializing, EventStop: ShuttingDown},
		Degraded:     {EventHealthy: Ready, EventDegraded: Degraded, EventUnhealthy: Failed, EventLost: Failed, EventReconnect: Initializing, EventStop: ShuttingDown},
		Failed:       {EventReconnect: Initializing, EventConnectFail: Failed, EventUnhealthy: Failed, EventLost: Failed, EventStop: ShuttingDown},
		ShuttingDown: {EventStop: ShuttingDown},
	}
	phases := []Phase{Pending, Initializing, Ready, Degraded, Failed, ShuttingDown}
	events := []Event{EventStart, EventConnected, EventConnectFail, EventHealthy, EventDegraded, EventUnhealthy, EventLost, EventReconnect, EventStop}
	for _, p := range phases {
		for _, e := range events {
			got, err := Next(p, e)
			if w, ok := want[p][e]; ok {
				if err != nil || got != w {
					t.Errorf("%s --%s--> %s, %v; want %s", p, e, got, err, w)
				}
			} else if err == nil || got != p {
				t.Errorf("%s --%s--> %s accepted; want rejection", p, e, got)
			}
		}
	}
	// The full cycle of the README's lifecycle diagram.
	p := Pending
	for _, e := range []Event{EventStart, EventConnected, EventDegraded, EventHealthy, EventUnhealthy, EventReconnect, EventConnected, EventStop} {
		var err error
		if p, err = Next(p, e); err != nil {
			t.Fatal(err)
		}
	}
	if p != ShuttingDown {
		t.Errorf("cycle ended in %s", p)
	}
}

func TestRules(t *testing.T) {
	tr := &Tracker{Rules: Rules{DegradedLatency: 100 * time.Millisecond, FailureThreshold: 3}}
	now := time.Now()
	steps := []struct {
		r    Result
		want Status
		fail int
	}{
		{Result{Status: StatusHealthy, Latency: 10 * time.Millisecond}, StatusHealthy, 0},
		{Result{Status: StatusHealthy, Latency: 300 * time.Millisecond}, StatusDegraded, 0},
		{Result{Status: StatusUnhealthy, Message: "timeout"}, StatusDegraded, 1},
		{Result{Status: StatusUnhealthy}, StatusDegraded, 2},
		{Result{Status: StatusUnhealthy}, StatusUnhealthy, 3},
		{Result{Status: StatusUnhealthy}, StatusUnhealthy, 4},
		{Result{Status: StatusHealthy, Latency: time.Millisecond}, StatusHealthy, 0},
		{Result{Status: StatusDegraded, Message: "probe says so"}, StatusDegraded, 0},
	}
	for i, s := range steps {
		if got := tr.Observe(s.r, now); got != s.want || tr.ConsecutiveFailures != s.fail {
			t.Errorf("step %d: %s (failures %d), want %s (%d)", i, got, tr.ConsecutiveFailures, s.want, s.fail)
		}
	}
}

func TestWorst(t *testing.T) {
	w := Worst(Result{Status: StatusHealthy, Latency: 5}, Result{Status: StatusUnhealthy, Message: "down", Latency: 1}, Result{Status: StatusDegraded, Latency: 9})
	if w.Status != StatusUnhealthy || w.Message != "down" || w.Latency != 9 {
		t.Errorf("worst = %+v", w)
	}
}

func TestConditionsBounded(t *testing.T) {
	var c Conditions
	clock := time.Unix(1000, 0)
	c.clock = func() time.Time { return clock }
	c.Set(CondHealthy, true, "", "ok")
	first := c.List()[0].LastTransition
	clock = clock.Add(time.Second)
	if c.Set(CondHealthy, true, "", "still ok") {
		t.Error("same status reported as a change")
	}
	if got := c.List()[0]; got.LastTransition != first || got.Message != "still ok" {
		t.Errorf("in-place update: %+v", got)
	}
	for i := range 1000 { // a flapping backend
		clock = clock.Add(time.Second)
		status := i%2 != 0
		c.Set(CondHealthy, status, "Flap", "check")
		c.Set(CondConnected, true, "", "")
	}
	list := c.List()
	if len(list) != 2 {
		t.Fatalf("conditions grew to %d", len(list))
	}
	if list[0].LastTransition != clock.UTC() {
		t.Errorf("last transition %v, want %v", list[0].LastTransition, clock)
	}
}

func TestHistoryKeepsTheLastChecksOldestFirst(t *testing.T) {
	var h History
	if got := h.List(); got == nil || len(got) != 0 {
		t.Fatalf("empty history lists %v", got)
	}
	t0 := time.Unix(0, 0)
	for i := range HistorySize + 5 {
		h.Add(Result{Status: StatusHealthy, Latency: time.Duration(i) * time.Millisecond}, t0.Add(time.Duration(i)*time.Second))
	}
	got := h.List()
	if len(got) != HistorySize || got[0].LatencyMS != 5 || got[len(got)-1].LatencyMS != HistorySize+4 {
		t.Fatalf("history has %d samples from %v to %v", len(got), got[0], got[len(got)-1])
	}
}
