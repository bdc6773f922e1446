package search

import (
	"fmt"
	"slices"
	"testing"
)

// TestRing: a limited query keeps the last n matches and no more, in
// order, however many pass.
func TestRing(t *testing.T) {
	for _, tc := range []struct{ n, add int }{{1, 0}, {1, 1}, {1, 5}, {3, 2}, {3, 3}, {3, 4}, {3, 10}, {4, 9}} {
		r := newRing(tc.n)
		var want []string
		for i := range tc.add {
			id := fmt.Sprint(i)
			r.add(event{line: []byte(id)})
			want = append(want, id)
		}
		want = want[max(0, len(want)-tc.n):]
		var got []string
		for _, ev := range r.events() {
			got = append(got, string(ev.line))
		}
		if !slices.Equal(got, want) || len(r.buf) > tc.n {
			t.Errorf("n=%d after %d: %v (cap %d), want %v", tc.n, tc.add, got, cap(r.buf), want)
		}
	}
}
