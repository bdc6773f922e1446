package events

import (
	"fmt"
	"testing"
	"time"
)

func TestRingAndQuery(t *testing.T) {
	l := New(5)
	for i := range 8 {
		sev := Info
		if i%3 == 0 {
			sev = Error
		}
		l.Emit(sev, "phase", "b", fmt.Sprint(i), nil)
	}
	all := l.Find(Query{})
	if len(all) != 5 || all[0].ID != 4 || all[4].ID != 8 {
		t.Fatalf("ring kept %v", all)
	}
	if got := l.Find(Query{MinSeverity: Error}); len(got) != 2 || got[0].Message != "3" || got[1].Message != "6" {
		t.Errorf("errors = %+v", got)
	}
	if got := l.Find(Query{After: 6}); len(got) != 2 {
		t.Errorf("after 6 = %+v", got)
	}
	if got := l.Find(Query{Limit: 2}); len(got) != 2 || got[1].ID != 8 {
		t.Errorf("limit = %+v", got)
	}
	if got := l.Find(Query{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("since future = %+v", got)
	}
}

func TestSubscribeResumesWithoutGapOrDuplicate(t *testing.T) {
	l := New(100)
	l.Emit(Info, "k", "s", "1", nil)
	l.Emit(Info, "k", "s", "2", nil)
	backlog, ch, cancel := l.Subscribe(1, 10)
	defer cancel()
	l.Emit(Info, "k", "s", "3", nil)
	if len(backlog) != 1 || backlog[0].ID != 2 {
		t.Fatalf("backlog = %+v", backlog)
	}
	if e := <-ch; e.ID != 3 {
		t.Errorf("live = %+v", e)
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	l := New(100)
	_, ch, cancel := l.Subscribe(0, 2)
	defer cancel()
	for range 5 {
		l.Emit(Warning, "k", "s", "m", nil) // never blocks
	}
	n := 0
	for range ch {
		n++
	}
	if n != 2 {
		t.Errorf("received %d before the channel closed, want 2", n)
	}
	cancel() // idempotent after the drop
}
