package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestServeListenErrorIsBranchable: the error of a listener that cannot
// bind is the user's (exit code 1) and still says why: a caller can
// branch on the system error under it.
func TestServeListenErrorIsBranchable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := filepath.Join(t.TempDir(), "argus.hcl")
	if err := os.WriteFile(cfg, []byte("server {\n  listen = \""+ln.Addr().String()+"\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = cmdServe(context.Background(), []string{"-config", cfg}, io.Discard)
	var ue errUser
	if !errors.As(err, &ue) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("cmdServe = %v; want a user error wrapping EADDRINUSE", err)
	}
}
