// Package auditlog is the on-disk contract of Argus audit files: how a
// record is sealed into the hash chain, and how a chain is verified. The
// jsonl audit sink (plugins/jsonl) writes with Chain; `argus audit verify`
// checks with verify.Verify (package auditlog/verify). Both sides build
// on this package, so the format lives in one place. It never imports
// the host.
//
// # Record
//
// A record is one line of UTF-8 JSON terminated by "\n": the audit event
// (the object the host sends, compacted, its keys in their original order)
// with two top-level keys appended, integrity last:
//
//	{…event…,"delivery":{"stream":"<stream id>","seq":<n>},"integrity":{"seq":<n>,"prev_hash":"<64 hex>","hash":"<64 hex>"}}
//
// delivery is the event's position in the host's delivery stream (sdk.Event
// Seq and sdk.Stream); a sink uses it to drop events it already wrote
// before a restart. integrity places the record in the hash chain.
// Invalid UTF-8 in an event is replaced by U+FFFD (one per run of invalid
// bytes) before anything else. An event must be a JSON object without
// duplicate keys (at any depth) and without the reserved top-level keys
// "delivery" and "integrity"; Seal rejects anything else.
//
// # Canonical form
//
// canonical(record) is the record without its "integrity" key, decoded as
// encoding/json does with Decoder.UseNumber (numbers keep their literal
// text; strings are unescaped, invalid UTF-8 becomes U+FFFD) and encoded
// again with encoding/json: object keys sorted by their UTF-8 bytes, no
// insignificant whitespace, no HTML escaping ('<', '>' and '&' verbatim;
// U+2028 and U+2029 escaped as \u2028 and \u2029), no trailing newline.
// Objects with duplicate keys have no canonical form: a line holding one
// is an altered record.
//
// # Chain
//
//	hash = lowercase hex( SHA-256( prev_hash + "\n" + canonical(record) ) )
//
// or, with a key configured, HMAC-SHA256 with that key over the same input.
// prev_hash is the previous record's hash; the first record ever written
// has the genesis prev_hash, 64 "0" characters, and integrity.seq 1. Each
// record's integrity.seq is the previous one's plus exactly 1. The chain
// runs on across rotated files and restarts of the sink and of Argus: a
// sink resumes from the last complete record of its current file, or of
// its newest backup when the current file is empty.
//
// Without a key the chain proves that files are complete and unaltered
// against accidents and naive edits, but whoever can write the files can
// also recompute every hash after an edit. With a key, forging a record
// needs the key. That the newest records were cut off shows in the head
// file (Head) kept beside the chain, and in records shipped elsewhere.
//
// # Verification
//
// auditlog/verify checks a trail (`argus audit verify`); fastcanon speeds it up.
package auditlog
