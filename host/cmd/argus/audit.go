package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/argusmcp/argus/shared/auditlog"
)

// envAuditKey holds the HMAC key for `argus audit verify` when -key-file is
// not given.
const envAuditKey = "ARGUS_AUDIT_HMAC_KEY"

const auditUsage = `Usage: argus audit verify [-key-file FILE] FILE...

Verifies the hash chain of audit files written by the jsonl sink and
reports the first missing, altered, reordered or duplicated record with its
file and line. Give the files oldest first; a single FILE brings its
rotated backups along (FILE.N … FILE.1, or timestamped ones).

If the sink has an hmac_key, pass the same key with -key-file or in $` + envAuditKey + `
(surrounding whitespace is ignored, as in the sink).

Exit codes: 0 intact, 1 a problem was found or a file cannot be read,
2 internal error.

Flags:
`

// cmdAudit runs `argus audit <subcommand>`.
func cmdAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errUser{errDiagnostics}
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	return errUser{fmt.Errorf("audit: unknown subcommand %q (want \"verify\")", args[0])}
}

func cmdAuditVerify(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("audit verify", stderr)
	keyFile := flags.String("key-file", "", "file holding the sink's hmac_key (default: $"+envAuditKey+")")
	flags.Usage = func() {
		fmt.Fprint(stderr, auditUsage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUser{errDiagnostics} // the flag package printed the problem
	}
	if flags.NArg() == 0 {
		return errUser{errors.New("audit verify: no FILE given (run \"argus audit verify -h\")")}
	}
	key, err := auditKey(*keyFile)
	if err != nil {
		return err
	}
	files := flags.Args()
	if len(files) == 1 {
		if files, err = auditlog.Files(files[0]); err != nil {
			return errUser{fmt.Errorf("audit verify: %w", err)}
		}
		backups := slices.DeleteFunc(slices.Clone(files), func(f string) bool { return f == flags.Arg(0) })
		switch len(backups) {
		case 0:
		case 1:
			fmt.Fprintf(stdout, "%s: including its rotated backup %s\n", flags.Arg(0), filepath.Base(backups[0]))
		default:
			fmt.Fprintf(stdout, "%s: including its %d rotated backups (%s … %s)\n", flags.Arg(0), len(backups), filepath.Base(backups[0]), filepath.Base(backups[len(backups)-1]))
		}
	}
	rep, err := auditlog.Verify(files, key)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return errUser{fmt.Errorf("audit verify: %w", err)}
		}
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintln(stdout, rep)
	if !rep.OK() {
		if p := rep.Problem; p.Kind == auditlog.Altered && p.Seq != 0 && rep.Records == 0 {
			hint := "if the sink has an hmac_key, pass it with -key-file or $" + envAuditKey
			if key != nil {
				hint = "is it the key the sink was configured with?"
			}
			fmt.Fprintf(stderr, "hint: the very first record does not verify: %s\n", hint)
		}
		return errUser{errDiagnostics}
	}
	if rep.Records > 0 && !rep.Genesis {
		fmt.Fprintf(stdout, "The verified chain starts at seq %d (%s): older records were rotated away or not given.\n", rep.FirstSeq, rep.Start)
	}
	return nil
}

// auditKey reads the HMAC key from path, else from the environment; nil
// when neither is set.
func auditKey(path string) ([]byte, error) {
	var raw []byte
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, errUser{fmt.Errorf("audit verify: -key-file: %w", err)}
		}
		raw = b
	case os.Getenv(envAuditKey) != "":
		raw = []byte(os.Getenv(envAuditKey))
	default:
		return nil, nil
	}
	key := bytes.TrimSpace(raw)
	if len(key) == 0 {
		src := "$" + envAuditKey
		if path != "" {
			src = path
		}
		return nil, errUser{fmt.Errorf("audit verify: the key in %s is empty", strings.TrimSpace(src))}
	}
	return key, nil
}
