package policy

import "github.com/argusmcp/argus/host/catalog"

// CatalogLookup is the Lookup of the catalogue snapshot returns, read at
// every call so that policies follow catalogue updates. snapshot may
// return nil (no catalogue yet, e.g. before the gateway is built): nothing
// is found then.
func CatalogLookup(snapshot func() *catalog.Snapshot) Lookup {
	return func(kind, name string) (string, bool) {
		snap := snapshot()
		if snap == nil {
			return "", false
		}
		var r catalog.Route
		var ok bool
		switch kind {
		case "tool":
			r, ok = snap.Tool(name)
		case "prompt":
			r, ok = snap.Prompt(name)
		case "resource":
			if r, ok = snap.Resource(name); !ok {
				r, ok = snap.Template(name) // a template's own URI (list filtering, completions)
			}
		}
		return r.Backend, ok
	}
}

// Follow makes the guard find a call's backend in the catalogue snapshot
// returns (CatalogLookup), for a guard built before the catalogue's owner:
// the gateway, whose middleware chain the guard is part of. Call it before
// the guard serves calls.
func (g *Guard) Follow(snapshot func() *catalog.Snapshot) { g.lookup = CatalogLookup(snapshot) }
