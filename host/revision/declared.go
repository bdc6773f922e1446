package revision

import (
	"encoding/json"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/argusmcp/argus/host/request"
)

// Declared decodes what the requests of stateless clients declare about
// their client in _meta (SEP-2575): its capabilities and its
// implementation. A client sends the same declaration with every request,
// and each request opens a session of its own, so each distinct value is
// decoded once and the result shared by the sessions of every request that
// declares it. What it returns is never to be modified.
//
// At most declaredMax values of each kind are kept, each of at most
// declaredMaxBytes; past that the kept ones are dropped, and a larger
// value is decoded every time, so a client declaring a new or a huge
// value in every request costs the decoding it would have cost anyway,
// and the memory kept stays under declaredMax × declaredMaxBytes (times
// the few copies an entry holds) per kind.
type Declared struct {
	caps valueMemo[declaredCaps]
	info valueMemo[*mcp.Implementation]
}

// declaredMax bounds the values Declared keeps of each kind, and
// declaredMaxBytes each value's size (strings and member names counted
// in bytes, every other value as 8): a client's declaration is a few
// hundred bytes.
const (
	declaredMax      = 256
	declaredMaxBytes = 4 << 10
)

type declaredCaps struct {
	caps *mcp.ClientCapabilities
	raw  json.RawMessage
}

// Capabilities returns the capabilities v declares, v being the value of a
// request's _meta clientCapabilities as decoded from JSON; decode decodes
// it (the SDK's ServerRequest.ClientCapabilities, which reads the SDK's
// own form of the value), once per distinct v. raw is v as encoding/json
// writes it, to send on to a backend in v's place without encoding it
// again. nil if decode refuses v.
func (d *Declared) Capabilities(v any, decode func() *mcp.ClientCapabilities) (*mcp.ClientCapabilities, json.RawMessage) {
	c, _ := d.caps.get(v, func() (declaredCaps, bool) {
		caps := decode()
		if caps == nil {
			return declaredCaps{}, false
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return declaredCaps{}, false
		}
		return declaredCaps{caps, raw}, true
	})
	return c.caps, c.raw
}

// ClientInfo returns the implementation v declares, v being the value of
// a request's _meta clientInfo as decoded from JSON; false if it does not
// decode as one (a null too), as the SDK's stateless handler refuses it.
func (d *Declared) ClientInfo(v any) (*mcp.Implementation, bool) {
	return d.info.get(v, func() (*mcp.Implementation, bool) {
		b, err := json.Marshal(v)
		if err != nil || v == nil {
			return nil, false
		}
		info := new(mcp.Implementation)
		if request.Decode(b, info) != nil {
			return nil, false
		}
		return info, true
	})
}

// valueMemo keeps what was computed from JSON values (as encoding/json or
// request.Decode make them: nil, bool, float64, string, []any,
// map[string]any), keyed by their content. Values it cannot hash (another
// type anywhere in them) are computed every time.
type valueMemo[T any] struct {
	m sync.Map // uint64 hash of the key -> *memoEntry[T]
	n atomic.Int64
}

type memoEntry[T any] struct {
	key any
	val T
}

// get returns what compute makes of v, computed on v's first use; a
// failed computation (ok false) is not kept.
func (m *valueMemo[T]) get(v any, compute func() (T, bool)) (T, bool) {
	h, hashed := hashValue(v)
	if !hashed {
		return compute()
	}
	if e, found := m.m.Load(h); found {
		if e := e.(*memoEntry[T]); sameValue(e.key, v) {
			return e.val, true
		}
		return compute() // another value of the same hash: not kept
	}
	val, ok := compute()
	if !ok {
		return val, false
	}
	if m.n.Add(1) > declaredMax {
		m.m.Clear()
		m.n.Store(1)
	}
	m.m.Store(h, &memoEntry[T]{key: v, val: val})
	return val, true
}

var memoSeed = maphash.MakeSeed()

// hashValue hashes a JSON value by its content: a map's members in any
// order hash alike. false for a value holding any other type, or larger
// than declaredMaxBytes.
func hashValue(v any) (uint64, bool) {
	var h maphash.Hash
	h.SetSeed(memoSeed)
	budget := declaredMaxBytes
	if !writeValue(&h, v, &budget) {
		return 0, false
	}
	return h.Sum64(), true
}

// writeValue writes v to h, counting its size off *budget; false once
// that runs out.
func writeValue(h *maphash.Hash, v any, budget *int) bool {
	if *budget -= 8; *budget < 0 {
		return false
	}
	switch v := v.(type) {
	case nil:
		h.WriteByte(0)
	case bool:
		if v {
			h.WriteByte(1)
		} else {
			h.WriteByte(2)
		}
	case float64:
		h.WriteByte(3)
		writeUint(h, math.Float64bits(v))
	case string:
		if *budget -= len(v); *budget < 0 {
			return false
		}
		h.WriteByte(4)
		writeUint(h, uint64(len(v)))
		h.WriteString(v)
	case []any:
		h.WriteByte(5)
		writeUint(h, uint64(len(v)))
		for _, e := range v {
			if !writeValue(h, e, budget) {
				return false
			}
		}
	case map[string]any:
		// Members hashed apart and summed: the sum does not depend on
		// the map's order.
		var sum uint64
		for k, e := range v {
			if *budget -= len(k); *budget < 0 {
				return false
			}
			var mh maphash.Hash
			mh.SetSeed(memoSeed)
			mh.WriteString(k)
			mh.WriteByte(0)
			if !writeValue(&mh, e, budget) {
				return false
			}
			sum += mh.Sum64()
		}
		h.WriteByte(6)
		writeUint(h, uint64(len(v)))
		writeUint(h, sum)
	default:
		return false
	}
	return true
}

func writeUint(h *maphash.Hash, u uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(u >> (8 * i))
	}
	h.Write(b[:])
}

// sameValue reports whether JSON values a and b are equal, member by
// member.
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, has := b[k]
			if !has || !sameValue(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}
