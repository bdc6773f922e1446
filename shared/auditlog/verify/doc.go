// Package verify checks audit files against the record chain contract of
// package auditlog; `argus audit verify` is its command line.
//
// Verify walks the records of the files in the order given (oldest
// first; auditlog.Files lists a base path's backups in that order) and
// reports the first problem with its file and line: a record whose hash does not match its
// content or that is not a record at all (altered), a gap in the sequence
// (missing), a sequence number that comes back later (reordered), the same
// record twice (duplicated), or a prev_hash that is not the previous
// record's hash (broken link). The first record verified may carry any
// prev_hash, since older files may have been rotated away; the report says
// where the verified chain starts and whether that is the genesis.
package verify
