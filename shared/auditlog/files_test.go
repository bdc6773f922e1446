package auditlog

import (
	"strings"
	"testing"
)

// TestLastLine: the last complete line of a file, read backwards in
// chunks, whatever the line lengths.
func TestLastLine(t *testing.T) {
	long := strings.Repeat("x", 150<<10) // spans several read chunks
	for _, tc := range []struct {
		in, line string
		end      int
	}{
		{"", "", 0},
		{"torn", "", 0},
		{"a\n", "a", 2},
		{"a\nb\n", "b", 4},
		{"a\nb\ntorn", "b", 4},
		{"a\n\n", "", 3},
		{long + "\n" + long + "\n", long, 2*len(long) + 2},
		{"a\n" + long + "\n" + long, long, 2 + len(long) + 1},
		{long + "\n" + long, long, len(long) + 1},
	} {
		line, end, err := LastLine(strings.NewReader(tc.in), int64(len(tc.in)))
		if err != nil || string(line) != tc.line || end != int64(tc.end) {
			t.Errorf("LastLine(%.20q…) = %.20q…, %d, %v; want %.20q…, %d", tc.in, line, end, err, tc.line, tc.end)
		}
	}
}
