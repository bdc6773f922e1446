package gateway_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// pauseWatch notices the benchmark's own process being stopped: a
// goroutine that sleeps a few milliseconds at a time and records every
// wake-up that came much later than asked. A call through the system under
// test that takes seconds while the benchmark process was stopped as long
// was the machine pausing (a VM held by its host, say), not a stall of
// the proxy; one the benchmark ran through was the proxy's, its backend's
// or its plugins'.
type pauseWatch struct {
	mu     sync.Mutex
	pauses []pause
	stop   chan struct{}
	done   chan struct{}
}

// pause is one late wake-up: the process was asleep from at for d.
type pause struct {
	at time.Time
	d  time.Duration
}

// startPauseWatch records gaps longer than over between wake-ups asked for
// every; Stop ends it.
func startPauseWatch(every, over time.Duration) *pauseWatch {
	w := &pauseWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTimer(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			now := time.Now()
			if gap := now.Sub(last); gap > over {
				w.add(pause{at: last, d: gap})
			}
			last = now
			t.Reset(every)
		}
	}()
	return w
}

func (w *pauseWatch) add(p pause) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pauses = append(w.pauses, p)
}

// Stop ends the watch and waits for its goroutine.
func (w *pauseWatch) Stop() {
	close(w.stop)
	<-w.done
}

// during is the longest pause that overlapped [from, to]; 0 if none.
func (w *pauseWatch) during(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var longest time.Duration
	for _, p := range w.pauses {
		if p.at.Before(to) && p.at.Add(p.d).After(from) {
			longest = max(longest, p.d)
		}
	}
	return longest
}

// count is the number of pauses seen and their total length.
func (w *pauseWatch) count() (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var total time.Duration
	for _, p := range w.pauses {
		total += p.d
	}
	return len(w.pauses), total
}

// hopStall is a measured round whose slowest call took over
// hopStallOver.
type hopStall struct {
	target  string
	conc    int
	round   int
	slowest time.Duration
	paused  time.Duration // longest stop of the benchmark process in that round
}

// hopStallOver is the call time from which BenchmarkHop reports a round.
const hopStallOver = time.Second

// stallTable reports the stalled rounds, and the benchmark process's own
// stops over the whole run.
func stallTable(stalls []hopStall, pauses int, paused time.Duration) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Calls over %v: ", hopStallOver)
	if len(stalls) == 0 {
		sb.WriteString("none.")
	} else {
		sb.WriteString("the benchmark process stopped as long in the same round: the machine paused (every process); not: the system under test stalled.\n\n")
		sb.WriteString("| target | conc | round | slowest call | benchmark process stopped | cause |\n|---|---|---|---|---|---|\n")
		for _, s := range stalls {
			cause := "the system under test"
			if s.paused >= s.slowest/2 {
				cause = "the machine"
			}
			fmt.Fprintf(&sb, "| %s | %d | %d | %v | %v | %s |\n", s.target, s.conc, s.round, s.slowest.Round(time.Millisecond), s.paused.Round(time.Millisecond), cause)
		}
	}
	fmt.Fprintf(&sb, " The benchmark process stopped %d times over the run, %v in all.\n", pauses, paused.Round(time.Millisecond))
	return sb.String()
}

// TestPauseWatch: pauses overlapping a window are found, the longest
// wins, those outside are not; a real watch stops and reports nothing on
// an idle machine in a short run, or only short stops.
func TestPauseWatch(t *testing.T) {
	t0 := time.Now()
	w := &pauseWatch{pauses: []pause{
		{at: t0.Add(1 * time.Second), d: 2 * time.Second},
		{at: t0.Add(10 * time.Second), d: 500 * time.Millisecond},
	}}
	for _, tc := range []struct {
		from, to time.Duration
		want     time.Duration
	}{
		{0, 500 * time.Millisecond, 0},
		{0, 1500 * time.Millisecond, 2 * time.Second},               // overlaps the first's start
		{2500 * time.Millisecond, 4 * time.Second, 2 * time.Second}, // its end
		{3500 * time.Millisecond, 9 * time.Second, 0},
		{0, 20 * time.Second, 2 * time.Second},
		{10200 * time.Millisecond, 10300 * time.Millisecond, 500 * time.Millisecond}, // inside
	} {
		if got := w.during(t0.Add(tc.from), t0.Add(tc.to)); got != tc.want {
			t.Errorf("during(%v, %v) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	if n, total := w.count(); n != 2 || total != 2500*time.Millisecond {
		t.Errorf("count = %d, %v", n, total)
	}

	live := startPauseWatch(time.Millisecond, time.Hour)
	time.Sleep(30 * time.Millisecond)
	live.Stop()
	if n, _ := live.count(); n != 0 {
		t.Errorf("%d pauses of over an hour in 30ms", n)
	}

	table := stallTable([]hopStall{
		{target: "full", conc: 1, round: 2, slowest: 26 * time.Second, paused: 26 * time.Second},
		{target: "bare", conc: 1, round: 1, slowest: 3 * time.Second},
	}, 1, 26*time.Second)
	for _, want := range []string{"| full | 1 | 2 | 26s | 26s | the machine |", "| bare | 1 | 1 | 3s | 0s | the system under test |", "stopped 1 times over the run, 26s in all"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if got := stallTable(nil, 0, 0); !strings.HasPrefix(got, "Calls over 1s: none.") {
		t.Errorf("no stalls: %q", got)
	}
}
