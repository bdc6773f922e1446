// Package search is `argus audit query`: the command that finds audit
// events in audit files on disk (rotated and gzipped backups included,
// several replicas' files merged by time) with the filters of the
// management API's GET /manage/v1/audit (package shared/auditlog/query),
// prints them as a table or as the original JSON lines, and with -follow
// keeps printing new ones as they are written, across rotations.
package search

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/argusmcp/argus/shared/auditlog/query"
)

var usage = `Usage: argus audit query [flags] FILE|DIR...

Prints the audit events of audit files that pass every filter given, oldest
first: by default the most recent ` + strconv.Itoa(query.DefaultLimit) + ` as an aligned table.

A FILE is an audit file as configured in a sink (logs/audit.jsonl): its
rotated backups, numbered, timestamped or gzipped, are read along, oldest
first. A DIR stands for every audit file in it (not recursively; head and
lock files are left out). Several FILEs or DIRs (the files of several
replicas) are merged in timestamp order.

The filters are those of GET /manage/v1/audit. --user, --backend and
--capability match exactly, or as a glob (*, ?, [...]); --status matches
the outcome's status (success, error) or its error type (denied,
rate_limited, timeout, ...); --since and --until take an RFC 3339 time or
a duration back from now (15m, 2h).

Lines that cannot be read (not JSON, no timestamp, a damaged gzip file) are
reported on stderr with their file and line and skipped; the rest is
printed.

Examples:
  # denied calls by alice in the last hour, across two replicas
  argus audit query --user alice --status denied --since 1h /srv/a/audit.jsonl /srv/b/audit.jsonl
  # every call to the github backend since midnight UTC, as JSON lines
  argus audit query --all --output jsonl --backend github --since 2026-11-30T00:00:00Z logs/
  # failing calls as they happen
  argus audit query --follow --status error logs/audit.jsonl

Exit codes: 0 ok, 1 lines or files were skipped, 2 usage or I/O error.
Flags may come before or after the files; -flag and --flag are the same.

Flags:
`

// ErrReported: lines or files could not be read and were skipped; each
// was reported on stderr, and the events that could be read were
// printed.
var ErrReported = errors.New("audit query: some input was skipped (see above)")

// errUsage is a usage error the flag package has printed already.
var errUsage = errors.New("audit query: invalid usage (see above)")

// Options are a query's settings, as the flags give them.
type Options struct {
	Filter query.Filter
	// Limit is the number of most recent matches printed (with Follow:
	// before following); 0 prints all, streaming.
	Limit int
	// JSONL prints the matching lines byte for byte instead of a table.
	JSONL bool
	// Follow keeps reading the active files for new events after the
	// history until the context ends.
	Follow bool
	// Poll is how often Follow looks for new lines and rotations;
	// default 250 ms.
	Poll time.Duration
}

// Main runs `argus audit query` with the arguments after "query". It
// returns nil when every line was read, ErrReported when some were
// skipped, flag.ErrHelp for -h, and another error for a usage or I/O
// error. With -follow it returns nil when ctx ends (an interrupt) after
// the history was printed; an interrupt before is an error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, paths, err := parseArgs(args, stderr, time.Now())
	if err != nil {
		return err
	}
	return Run(ctx, paths, opts, stdout, stderr)
}

func parseArgs(args []string, stderr io.Writer, now time.Time) (Options, []string, error) {
	var opts Options
	flags := flag.NewFlagSet("argus audit query", flag.ContinueOnError)
	flags.SetOutput(stderr)
	v := url.Values{}
	for _, name := range []string{"user", "backend", "capability", "status", "since", "until"} {
		help := map[string]string{
			"user":       "user id (exact, or a glob such as 'ali*')",
			"backend":    "backend name (exact or glob)",
			"capability": "capability name as clients see it (exact or glob)",
			"status":     "outcome: success, error, or an error type (denied, rate_limited, timeout, ...)",
			"since":      "events at or after this RFC 3339 time, or this long ago (15m, 2h)",
			"until":      "events before this RFC 3339 time, or this long ago",
		}[name]
		flags.Func(name, help, func(s string) error { v.Add(name, s); return nil }) // query.Parse refuses a repeated filter
	}
	limit := flags.Int("limit", query.DefaultLimit, "print the most recent N matching events; 0 prints all")
	all := flags.Bool("all", false, "print every matching event (same as -limit 0)")
	output := flags.String("output", "table", "table (aligned columns) or jsonl (the original lines, byte for byte)")
	flags.BoolVar(&opts.Follow, "follow", false, "after the most recent events, print new ones as they are written, until interrupted")
	flags.Usage = func() {
		fmt.Fprint(stderr, usage)
		flags.PrintDefaults()
	}
	// Flags may follow the paths: parse, take one path, parse the rest.
	var paths []string
	for {
		if err := flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return opts, nil, err
			}
			return opts, nil, errUsage
		}
		rest := flags.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			paths = append(paths, rest...) // everything after -- is a path
			break
		}
		paths = append(paths, rest[0])
		args = rest[1:]
	}
	if len(paths) == 0 {
		return opts, nil, errors.New("audit query: no FILE or DIR given (run \"argus audit query -h\")")
	}
	f, err := query.Parse(v, now)
	if err != nil {
		return opts, nil, fmt.Errorf("audit query: %w", err)
	}
	opts.Filter = f
	switch {
	case *limit < 0:
		return opts, nil, fmt.Errorf("audit query: -limit %d: want 0 (all) or more", *limit)
	case *all:
		opts.Limit = 0
	default:
		opts.Limit = *limit
	}
	switch *output {
	case "table":
	case "jsonl":
		opts.JSONL = true
	default:
		return opts, nil, fmt.Errorf("audit query: -output %q: want table or jsonl", *output)
	}
	return opts, paths, nil
}

// Run prints the events of the audit files at paths that opts selects
// to stdout and reports unreadable input on stderr (see Main).
func Run(ctx context.Context, paths []string, opts Options, stdout, stderr io.Writer) error {
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	rep := &reporter{w: stderr}
	streams, err := openStreams(paths, opts.Follow, rep)
	if err != nil {
		return fmt.Errorf("audit query: %w", err)
	}
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	bw := bufio.NewWriter(stdout)
	out := newPrinter(bw, opts.JSONL)
	emit := func(evs []event) error {
		out.print(evs)
		return bw.Flush()
	}
	if err := history(ctx, streams, opts, emit); err != nil {
		return err
	}
	if opts.Follow {
		if err := follow(ctx, streams, opts, rep, emit); err != nil {
			return err
		}
	}
	rep.summary()
	if rep.skipped > 0 {
		return ErrReported
	}
	return nil
}

// history prints the matching events already written: the last
// opts.Limit of the merge, or all of them streaming.
func history(ctx context.Context, streams []*stream, opts Options, emit func([]event) error) error {
	const chunk = 512 // rows per table block when streaming
	var batch []event
	last := newRing(opts.Limit)
	m := newMerge(streams)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return errors.New("audit query: interrupted before the end of the files")
		}
		ev, ok := m.next()
		if !ok {
			break
		}
		if !opts.Filter.Match(ev.fields) {
			continue
		}
		if opts.Limit > 0 {
			last.add(ev)
			continue
		}
		if batch = append(batch, ev); len(batch) == chunk {
			if err := emit(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if opts.Limit > 0 {
		batch = last.events()
	}
	return emit(batch)
}
