package jsonl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared/auditlog"
)

// maxTorn bounds the incomplete tail recover is willing to read: no record
// is larger than a plugin message (16 MiB). A longer line without a
// newline is not a torn record, and the file is not an audit file.
const maxTorn = 17 << 20

// recoverFile prepares the audit file at path for appending after whatever
// happened before: it cuts away a torn last line that a crash left, and
// returns the last complete record of the chain: the current file's, or
// the newest backup's when the current file has none. nil means a new
// chain.
func recoverFile(path string, log sdk.Logger) ([]byte, error) {
	last, err := repair(path, log)
	if err != nil || last != nil {
		return last, err
	}
	files, err := auditlog.Files(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for i := len(files) - 1; i >= 0; i-- {
		if files[i] == path {
			continue
		}
		last, err := auditlog.LastRecord(files[i])
		if err != nil {
			return nil, err
		}
		if last != nil {
			return last, checkRecord(files[i], last)
		}
	}
	return nil, nil
}

// repair truncates a torn last line of path and returns its last complete
// record, nil when it has none (or does not exist).
func repair(path string, log sdk.Logger) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	last, end, err := auditlog.LastLine(f, st.Size())
	if err != nil {
		return nil, err
	}
	if torn := st.Size() - end; torn > 0 {
		if torn > maxTorn {
			return nil, fmt.Errorf("%s ends in %d bytes without a newline: it is not an audit file, and the sink leaves it alone", path, torn)
		}
		tail := make([]byte, torn)
		if _, err := f.ReadAt(tail, end); err != nil {
			return nil, err
		}
		if tail[0] != '{' {
			return nil, fmt.Errorf("%s ends in a line that is not a JSON object: it is not an audit file, and the sink leaves it alone", path)
		}
		if _, err := auditlog.Parse(tail); err == nil {
			// A whole record without its newline: complete it.
			if _, err := f.WriteAt([]byte("\n"), st.Size()); err != nil {
				return nil, err
			}
			log.Warn("added the missing newline after the last record", "file", path)
			last = tail
		} else {
			if err := f.Truncate(end); err != nil {
				return nil, fmt.Errorf("truncate the torn last line: %w", err)
			}
			log.Warn("truncated the torn last line a crash left", "file", path, "bytes", torn)
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	if last == nil {
		return nil, nil
	}
	return last, checkRecord(path, last)
}

func checkRecord(path string, line []byte) error {
	if _, err := auditlog.Parse(line); err != nil {
		return fmt.Errorf("cannot continue the hash chain: the last line of %s is not an audit record (%v); move the file aside to start a new chain", path, err)
	}
	return nil
}
