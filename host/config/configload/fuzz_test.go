package configload

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: no configuration text, however malformed, makes the loader
// or the diagnostics renderer panic; a load either yields a
// configuration or errors, never neither.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p := NewParser()
		cfg, diags := p.Load(src, filepath.Join(t.TempDir(), "fuzz.hcl"))
		if cfg == nil && !diags.HasErrors() {
			t.Fatal("no configuration and no error")
		}
		if err := p.WriteDiagnostics(io.Discard, diags, 80, false); err != nil {
			t.Fatal(err)
		}
	})
}
