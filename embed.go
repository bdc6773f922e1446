// Package argus holds what the whole module shares at its root: the
// default configuration embedded into the argus binary.
package argus

import _ "embed"

// DefaultConfig is config.hcl.example, used by `argus serve` when no
// configuration file is given and ./argus.hcl does not exist.
//
//go:embed config.hcl.example
var DefaultConfig []byte
