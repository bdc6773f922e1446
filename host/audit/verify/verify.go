// Package verify is `argus audit verify`: the command that checks the
// hash chains of audit files written by the jsonl sink (the checks
// themselves are shared/auditlog's) and reports, for people or as JSON,
// each chain's first problem with its file and line.
package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	auditverify "github.com/argusmcp/argus/shared/auditlog/verify"
)

// EnvKey holds the HMAC key for `argus audit verify` when -key-file is
// not given.
const EnvKey = "ARGUS_AUDIT_HMAC_KEY"

const auditUsage = `Usage: argus audit verify [-key-file FILE] [-head FILE] [-json] FILE|DIR|PATTERN...

Verifies the hash chains of audit files written by the jsonl sink and
reports each chain's first missing, altered, reordered or duplicated
record with its file and line. Give the files in any order, as a shell
glob (logs/audit.jsonl*), a quoted pattern or a directory: they are
ordered by their content (each file's first seq), never by name, and
rotated backups may be numbered, timestamped or gzipped. A single FILE
brings its rotated backups along. Several sinks' trails (chains, told
apart by the chain id in every record) are verified each on its own.

Each chain is checked against its head file (FILE.head, written by the
sink after every sync), found beside the files or given with -head: a
trail that ends before its head has lost its newest records.

If the sink has an hmac_key, pass the same key with -key-file or in $` + EnvKey + `
(surrounding whitespace is ignored, as in the sink).

Exit codes: 0 intact, 1 a problem was found, 2 usage or I/O error.

Flags:
`

// ErrReported, of Main, is the one error the command reports with exit
// code 1: a problem was found in the trail, and reported already. Every
// other error (usage, I/O) is exit code 2, so that a script that alerts
// on 1 is not set off by a mistyped command.
var ErrReported = errors.New("audit trail has a problem (see above)")

// ErrUnknownCommand: `argus audit` was given no subcommand, or one other
// than verify (or query, which package search runs). A usage error: exit
// code 2.
var ErrUnknownCommand = errors.New("audit: unknown subcommand")

// commandsUsage is `argus audit`'s usage, without a subcommand.
const commandsUsage = `Usage: argus audit verify [-key-file FILE] [-head FILE] [-json] FILE|DIR|PATTERN...
       argus audit query  [filters] FILE|DIR...

Run "argus audit verify -h" or "argus audit query -h" for a subcommand's
flags. Exit codes: 0 ok, 1 a problem found in the trail (verify), 2 usage
or I/O error.
`

// Main runs `argus audit <subcommand>` with args after "audit". A trail
// that verifies returns nil; flag.ErrHelp when help was asked for.
func Main(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, commandsUsage)
		return fmt.Errorf("%w: none given (want \"verify\" or \"query\")", ErrUnknownCommand)
	}
	switch args[0] {
	case "verify":
		return run(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, commandsUsage)
		return nil
	}
	return fmt.Errorf("%w %q (want \"verify\" or \"query\")", ErrUnknownCommand, args[0])
}

// errUsage is a usage or I/O error of audit verify: exit code 2, apart
// from 1 for a problem in the trail.
var errUsage = errors.New("audit verify: invalid usage (see above)")

func run(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("argus audit verify", flag.ContinueOnError)
	flags.SetOutput(stderr)
	keyFile := flags.String("key-file", "", "file holding the sink's hmac_key (default: $"+EnvKey+")")
	var heads []string
	flags.Func("head", "head file to check the chain against (repeatable; default: the *.head files beside the trail)", func(s string) error {
		heads = append(heads, s)
		return nil
	})
	asJSON := flags.Bool("json", false, "print a machine-readable summary as JSON instead of text")
	flags.Usage = func() {
		fmt.Fprint(stderr, auditUsage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package printed the problem
	}
	if flags.NArg() == 0 {
		return errors.New("audit verify: no FILE given (run \"argus audit verify -h\")")
	}
	key, err := auditKey(*keyFile)
	if err != nil {
		return err
	}
	in, err := auditverify.Collect(flags.Args())
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if len(in.Files) == 0 {
		return errors.New("audit verify: no audit file among the arguments")
	}
	opts := auditverify.Options{Key: key, Heads: heads, FindHeads: true}
	stop := startProgress(stderr, in.Files, &opts)
	rep, err := auditverify.VerifyInputs(in, opts)
	stop()
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(auditJSON(rep)); err != nil {
			return err
		}
	} else {
		printAuditReport(stdout, stderr, rep, key != nil)
	}
	if !rep.OK() {
		return ErrReported
	}
	return nil
}

// printAuditReport writes the verdict for people.
func printAuditReport(stdout, stderr io.Writer, rep auditverify.Report, keyed bool) {
	for _, f := range rep.Skipped {
		fmt.Fprintf(stdout, "skipped %s: not an audit file\n", f)
	}
	if len(rep.Chains) == 0 {
		fmt.Fprintf(stdout, "OK: no records, %s\n", plural(rep.Files, "file"))
	}
	many := len(rep.Chains) > 1
	failed := 0
	for _, c := range rep.Chains {
		prefix := ""
		if many {
			id := c.ID
			if id == "" {
				id = "(without id)"
			}
			prefix = "chain " + id + ": "
		}
		fmt.Fprintln(stdout, prefix+c.String())
		if !c.OK() {
			failed++
			if p := c.Problem; p.Kind == auditverify.Altered && p.Seq != 0 && c.Records == 0 {
				hint := "if the sink has an hmac_key, pass it with -key-file or $" + EnvKey
				if keyed {
					hint = "is it the key the sink was configured with?"
				}
				fmt.Fprintf(stderr, "hint: the very first record does not verify: %s\n", hint)
			}
		}
		if c.OK() && c.Records > 0 && !c.Genesis {
			fmt.Fprintf(stdout, "%sThe verified chain starts at seq %d (%s): older records were rotated away or not given.\n", prefix, c.FirstSeq, c.Start)
		}
		if line := headLine(c.Head); line != "" {
			fmt.Fprintln(stdout, prefix+line)
		}
	}
	for _, h := range rep.Heads {
		if h.Result == "unmatched" {
			fmt.Fprintf(stdout, "head %s names chain %s up to seq %d, but no record of that chain was given\n", h.File, h.Chain, h.Seq)
			if h.Explicit {
				failed++
			}
		}
	}
	if many || failed > 0 && len(rep.Chains) != 1 {
		if failed == 0 {
			fmt.Fprintf(stdout, "OK: %d chains, %s\n", len(rep.Chains), plural(rep.Files, "file"))
		} else {
			fmt.Fprintf(stdout, "FAIL: %d of %d chains or heads with a problem\n", failed, len(rep.Chains))
		}
	}
}

func headLine(h *auditverify.HeadCheck) string {
	if h == nil {
		return "no head file: removal of the newest records cannot be detected (the sink writes FILE.head beside the trail; give it with -head)"
	}
	when := h.Time.UTC().Format("2006-01-02T15:04:05Z")
	switch h.Result {
	case "matches":
		return fmt.Sprintf("head: seq %d matches %s (written %s)", h.Seq, h.File, when)
	case "behind":
		return fmt.Sprintf("head: %s names seq %d (written %s), older than the newest record: the sink had not rewritten it yet, or is still writing", h.File, h.Seq, when)
	case "older":
		return fmt.Sprintf("head: %s names seq %d, older than every record given: not checked", h.File, h.Seq)
	}
	return ""
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// The -json summary.
type (
	auditSummary struct {
		Result  string      `json:"result"` // "ok" or "problem"
		Files   int         `json:"files"`
		Bytes   int64       `json:"bytes"`
		Chains  []chainJSON `json:"chains"`
		Heads   []headJSON  `json:"heads"`
		Skipped []string    `json:"skipped"`
	}
	chainJSON struct {
		Chain     string       `json:"chain"`
		Result    string       `json:"result"`
		Records   int          `json:"records"`
		Files     []string     `json:"files"`
		FirstSeq  uint64       `json:"first_seq"`
		LastSeq   uint64       `json:"last_seq"`
		FirstTime string       `json:"first_time"`
		LastTime  string       `json:"last_time"`
		Genesis   bool         `json:"genesis"`
		Head      *headJSON    `json:"head"`
		Problem   *problemJSON `json:"problem"`
	}
	headJSON struct {
		File   string `json:"file"`
		Chain  string `json:"chain"`
		Seq    uint64 `json:"seq"`
		Hash   string `json:"hash"`
		Time   string `json:"time"`
		Result string `json:"result"`
		Error  string `json:"error,omitempty"`
	}
	problemJSON struct {
		Kind    string `json:"kind"`
		File    string `json:"file"`
		Line    int    `json:"line"`
		Seq     uint64 `json:"seq"`
		Message string `json:"message"`
	}
)

func auditJSON(rep auditverify.Report) auditSummary {
	out := auditSummary{Result: "ok", Files: rep.Files, Bytes: rep.Bytes, Chains: []chainJSON{}, Heads: []headJSON{}, Skipped: rep.Skipped}
	if !rep.OK() {
		out.Result = "problem"
	}
	if out.Skipped == nil {
		out.Skipped = []string{}
	}
	head := func(h *auditverify.HeadCheck) headJSON {
		j := headJSON{File: h.File, Chain: h.Chain, Seq: h.Seq, Hash: h.Hash, Result: h.Result}
		if !h.Time.IsZero() {
			j.Time = h.Time.UTC().Format(time.RFC3339Nano)
		}
		if h.Err != nil {
			j.Error = h.Err.Error()
		}
		return j
	}
	for _, c := range rep.Chains {
		j := chainJSON{Chain: c.ID, Result: "ok", Records: c.Records, Files: c.Files, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq,
			FirstTime: c.FirstTime, LastTime: c.LastTime, Genesis: c.Genesis}
		if c.Head != nil {
			h := head(c.Head)
			j.Head = &h
		}
		if p := c.Problem; p != nil {
			j.Result = "problem"
			j.Problem = &problemJSON{Kind: string(p.Kind), File: p.File, Line: p.Line, Seq: p.Seq, Message: p.Message}
		}
		out.Chains = append(out.Chains, j)
	}
	for i := range rep.Heads {
		out.Heads = append(out.Heads, head(&rep.Heads[i]))
	}
	return out
}

// auditKey reads the HMAC key from path, else from the environment; nil
// when neither is set.
func auditKey(path string) ([]byte, error) {
	var raw []byte
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("audit verify: -key-file: %w", err)
		}
		raw = b
	case os.Getenv(EnvKey) != "":
		raw = []byte(os.Getenv(EnvKey))
	default:
		return nil, nil
	}
	key := bytes.TrimSpace(raw)
	if len(key) == 0 {
		src := "$" + EnvKey
		if path != "" {
			src = path
		}
		return nil, fmt.Errorf("audit verify: the key in %s is empty", strings.TrimSpace(src))
	}
	return key, nil
}

// startProgress shows a progress bar (bytes, records/s, ETA) on w while
// the trail is verified, when w is a terminal; none otherwise. The
// returned function removes it.
func startProgress(w io.Writer, files []string, opts *auditverify.Options) func() {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	var total int64
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetDescription("verifying"))
	start := time.Now()
	opts.Progress = func(read, lines int64) {
		if secs := time.Since(start).Seconds(); secs > 0 {
			bar.Describe(fmt.Sprintf("verifying %.0f records/s", float64(lines)/secs))
		}
		_ = bar.Set64(read)
	}
	return func() { _ = bar.Finish() }
}
