package main

import (
	"io"

	"github.com/argusmcp/argus/shared/auditlog"
)

// startProgress shows verification progress on w when it is a terminal;
// the returned function removes it.
func startProgress(w io.Writer, files []string, opts *auditlog.Options) func() {
	return func() {}
}
