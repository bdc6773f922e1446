package search

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// printer writes events as JSON lines or as a table.
type printer struct {
	w      io.Writer
	jsonl  bool
	header bool  // the table's header was printed
	widths []int // column widths so far: they only grow, so blocks printed apart stay aligned as far as they can
}

var columns = []string{"TIME", "USER", "BACKEND", "CAPABILITY", "STATUS", "LATENCY"}

// timeLayout prints event times in UTC with milliseconds: fixed width.
const timeLayout = "2006-01-02T15:04:05.000Z"

func newPrinter(w io.Writer, jsonl bool) *printer {
	p := &printer{w: w, jsonl: jsonl}
	for _, c := range columns {
		p.widths = append(p.widths, len(c))
	}
	p.widths[0] = len(timeLayout)
	return p
}

// print writes a block of events: each line byte for byte, or table rows
// aligned over the block.
func (p *printer) print(evs []event) {
	if p.jsonl {
		for _, ev := range evs {
			p.w.Write(ev.line)
			io.WriteString(p.w, "\n")
		}
		return
	}
	rows := make([][]string, len(evs))
	for i, ev := range evs {
		rows[i] = row(ev)
		for c, v := range rows[i] {
			p.widths[c] = max(p.widths[c], utf8.RuneCountInString(v))
		}
	}
	if !p.header {
		p.header = true
		p.writeRow(columns)
	}
	for _, r := range rows {
		p.writeRow(r)
	}
}

func (p *printer) writeRow(r []string) {
	var b strings.Builder
	for c, v := range r {
		if c == len(r)-1 {
			b.WriteString(strings.Repeat(" ", p.widths[c]-utf8.RuneCountInString(v)) + v) // latency: right-aligned
			break
		}
		b.WriteString(v + strings.Repeat(" ", p.widths[c]-utf8.RuneCountInString(v)+2))
	}
	b.WriteByte('\n')
	io.WriteString(p.w, b.String())
}

// row is an event's table cells: time, user, backend, capability,
// status (the error type when there is one) and latency.
func row(ev event) []string {
	f := ev.fields
	status := f.Status
	if f.ErrorType != "" {
		status = f.ErrorType
	}
	var extra struct {
		Outcome struct {
			LatencyMS *float64 `json:"latency_ms"`
		} `json:"outcome"`
	}
	latency := "-"
	if json.Unmarshal(ev.line, &extra) == nil && extra.Outcome.LatencyMS != nil {
		latency = strconv.FormatFloat(math.Round(*extra.Outcome.LatencyMS*100)/100, 'f', -1, 64) + "ms"
	}
	return []string{f.Time.UTC().Format(timeLayout), cell(f.User), cell(f.Backend), cell(f.Capability), cell(status), latency}
}

// cell shows an absent value as "-" and keeps control characters from
// reaching the terminal.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		q := strconv.Quote(s)
		return q[1 : len(q)-1]
	}
	return s
}

// reporter reports input that could not be read, on stderr: every
// problem counts, the first few of each file are shown.
type reporter struct {
	w       io.Writer
	skipped int
	perFile map[string]int
	order   []string
}

// maxShown is how many skipped lines of one file are shown one by one.
const maxShown = 10

func (r *reporter) count(path string) int {
	if r.perFile == nil {
		r.perFile = map[string]int{}
	}
	if _, ok := r.perFile[path]; !ok {
		r.order = append(r.order, path)
	}
	r.skipped++
	r.perFile[path]++
	return r.perFile[path]
}

// line reports a line that is not an audit event.
func (r *reporter) line(path string, n int, err error) {
	if r.count(path) <= maxShown {
		fmt.Fprintf(r.w, "skipped %s line %d: %v\n", path, n, err)
	}
}

// file reports a file, or its rest, that cannot be read.
func (r *reporter) file(path, msg string) {
	r.count(path)
	fmt.Fprintf(r.w, "skipped %s: %s\n", path, msg)
}

// note says something about a file that skips nothing.
func (r *reporter) note(path, msg string) { fmt.Fprintf(r.w, "%s: %s\n", path, msg) }

// summary reports the counts of files with more problems than shown.
func (r *reporter) summary() {
	for _, p := range r.order {
		if n := r.perFile[p]; n > maxShown {
			fmt.Fprintf(r.w, "skipped %s: %d lines or parts in all (the first %d shown)\n", p, n, maxShown)
		}
	}
}
