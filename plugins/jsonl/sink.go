package jsonl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/argusmcp/argus/sdk"
	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/fastcanon"
)

// sink is the jsonl audit sink. The SDK calls Write, Flush and Close one at
// a time; the interval syncer runs beside them, so mu guards the state.
//
// Acknowledgements count events of the current delivery stream on disk
// (written now, or found there by a restarted sink), and durable per the
// fsync mode: at once with "never", after the batch's fsync with "always",
// after the next background fsync with "interval".
type sink struct {
	cfg config
	log sdk.Logger

	lock *os.File // held while the sink is open (see lockFile)

	mu    sync.Mutex
	file  logFile
	chain *auditlog.Chain
	// The delivery of the last record in the files, to skip events a
	// previous process already wrote.
	lastStream string
	lastSeq    uint64
	// Acknowledgement state for ackStream.
	ackStream string
	gen       uint64 // bumped when ackStream changes
	written   uint64 // highest seq of ackStream in the files
	acked     atomic.Uint64
	closed    bool

	// Reused per batch.
	buf   []byte
	ends  []int
	heads []head

	// The head file: headMu serializes its writes, headSeq is the seq it
	// holds (it never goes back).
	headMu         sync.Mutex
	headSeq        uint64
	lastCheckpoint time.Time

	stop chan struct{}
	done chan struct{}
}

// head is the chain and delivery position after one record of a batch.
type head struct {
	seq   uint64
	hash  string
	event uint64
}

var (
	_ sdk.Sink    = (*sink)(nil)
	_ sdk.Flusher = (*sink)(nil)
	_ sdk.Acker   = (*sink)(nil)
	_ sdk.Closer  = (*sink)(nil)
)

// open recovers the file, resumes the chain and starts the interval
// syncer.
func open(c config, log sdk.Logger) (_ *sink, err error) {
	if c.HeadFile == "" {
		c.HeadFile = c.File + auditlog.HeadSuffix
	}
	if err := os.MkdirAll(filepath.Dir(c.File), 0o700); err != nil {
		return nil, sdk.Errorf("file", "%v", err)
	}
	lock, err := lockFile(c.File)
	if err != nil {
		return nil, sdk.Errorf("file", "%v", err)
	}
	defer func() {
		if err != nil && lock != nil {
			lock.Close()
		}
	}()
	last, err := recoverFile(c.File, log)
	if err != nil {
		return nil, sdk.Errorf("file", "%v", err)
	}
	s := &sink{cfg: c, log: log, lock: lock, chain: auditlog.NewChain(c.Key)}
	// Seal canonicalises the host's compact events from their bytes (the
	// verifier's fast path), not through maps: most of the sink's CPU per
	// event otherwise.
	s.chain.SetFast(&fastcanon.Canonicaliser{})
	var tail *auditlog.Record
	if last != nil {
		rec, err := s.chain.Resume(last)
		if err != nil {
			return nil, err
		}
		tail = &rec
		if _, err := auditlog.Check(last, c.Key); errors.Is(err, auditlog.ErrHashMismatch) {
			log.Warn("the last record's hash does not verify with the configured hmac_key (the key changed, or the file was altered); the chain continues from it, and `argus audit verify` will report the break",
				"file", c.File, "seq", rec.Integrity.Seq)
		}
		s.lastStream, s.lastSeq = rec.Delivery.Stream, rec.Delivery.Seq
		log.Debug("resuming the audit chain", "file", c.File, "seq", rec.Integrity.Seq, "stream", rec.Delivery.Stream, "stream_seq", rec.Delivery.Seq)
	} else {
		s.chain.SetID(auditlog.NewChainID())
	}
	gap := s.checkHead(tail)
	switch c.Rotation {
	case rotationTimestamp:
		s.file, err = openStamped(c.File, c)
	default:
		s.file, err = openNumbered(c.File, c.MaxBytes, c.BackupCount, c.Fsync != fsyncNever)
	}
	if err != nil {
		return nil, sdk.Errorf("file", "%v", err)
	}
	if gap != nil {
		if err := s.recordGap(*gap); err != nil {
			s.file.close()
			return nil, sdk.Errorf("file", "%v", err)
		}
	}
	if s.chain.Seq() > 0 {
		if err := s.writeHead(s.chain.Seq(), s.chain.Head()); err != nil {
			s.file.close()
			return nil, sdk.Errorf("head_file", "%v", err)
		}
	}
	if c.Fsync != fsyncAlways {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

// Write seals the events into records and appends them, in one write per
// file touched. Events of the stream and at or below the sequence number
// of the last record on disk were written before (by this process or one
// the host restarted) and are skipped.
func (s *sink) Write(ctx context.Context, events []sdk.Event) error {
	stream := sdk.Stream(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the sink is closed")
	}
	if stream != s.ackStream {
		s.ackStream, s.written = stream, 0
		s.gen++
		s.acked.Store(0)
	}
	s.buf, s.ends, s.heads = s.buf[:0], s.ends[:0], s.heads[:0]
	startSeq, startHash := s.chain.Seq(), s.chain.Head()
	for _, e := range events {
		if stream == s.lastStream && e.Seq <= s.lastSeq {
			continue
		}
		line, err := s.seal(e, stream)
		if err != nil {
			_ = s.chain.SetHead(startSeq, startHash)
			return err
		}
		s.buf = append(s.buf, line...)
		s.ends = append(s.ends, len(s.buf))
		s.heads = append(s.heads, head{s.chain.Seq(), s.chain.Head(), e.Seq})
	}
	n, err := s.file.write(s.buf, s.ends)
	if n > 0 {
		s.lastStream, s.lastSeq = stream, s.heads[n-1].event
		s.written = max(s.written, s.heads[n-1].event)
	}
	if err != nil {
		// Records n… are in no file: the chain goes back to before them.
		if n > 0 {
			_ = s.chain.SetHead(s.heads[n-1].seq, s.heads[n-1].hash)
		} else {
			_ = s.chain.SetHead(startSeq, startHash)
		}
		return fmt.Errorf("%s: %w", s.cfg.File, err)
	}
	if len(events) > 0 {
		s.written = max(s.written, events[len(events)-1].Seq)
	}
	switch s.cfg.Fsync {
	case fsyncNever:
		s.acked.Store(s.written)
	case fsyncAlways:
		return s.syncLocked()
	}
	return nil
}

// seal makes the record of one event. An event that is not a JSON object
// (or uses a reserved key) is still recorded, as an argus_invalid_event
// record carrying the raw bytes, so that neither the chain nor the
// delivery stalls on it; so is an event too large for lumberjack's file.
func (s *sink) seal(e sdk.Event, stream string) ([]byte, error) {
	seq, hash := s.chain.Seq(), s.chain.Head()
	line, err := s.chain.Seal(e.JSON, stream, e.Seq)
	raw := e.JSON
	switch {
	case err == nil && s.cfg.Rotation == rotationTimestamp && int64(len(line)) > int64(s.cfg.MaxSizeMB)<<20:
		_ = s.chain.SetHead(seq, hash)
		err = fmt.Errorf("the record is %d bytes, more than max_size_mb allows", len(line))
		raw = raw[:min(len(raw), 64<<10)]
	case errors.Is(err, auditlog.ErrInvalidEvent):
	default:
		return line, err
	}
	s.log.Error("recording an event the sink cannot write as is", "stream_seq", e.Seq, "error", err)
	return s.chain.Seal(invalidEvent(raw, err), stream, e.Seq)
}

// invalidEvent is the record of an event that could not be recorded as is.
func invalidEvent(raw []byte, reason error) []byte {
	b, _ := json.Marshal(struct {
		Timestamp string `json:"timestamp"`
		EventType string `json:"event_type"`
		Error     string `json:"error"`
		Raw       string `json:"raw"`
	}{
		Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		EventType: "argus_invalid_event",
		Error:     reason.Error(),
		Raw:       strings.ToValidUTF8(string(raw), "\uFFFD"),
	})
	return b
}

// Acked is the highest sequence number of the current stream up to which
// every event is on disk and, per the fsync mode, durable.
func (s *sink) Acked() uint64 { return s.acked.Load() }

// Flush makes everything written durable (fsync, except with fsync =
// "never") and acknowledges it.
func (s *sink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.cfg.Fsync == fsyncNever {
		s.acked.Store(s.written)
		return s.writeHead(s.chain.Seq(), s.chain.Head())
	}
	return s.syncLocked()
}

func (s *sink) syncLocked() error {
	if f := s.file.current(); f != nil {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.cfg.File, err)
		}
	}
	s.acked.Store(s.written)
	return s.writeHead(s.chain.Seq(), s.chain.Head())
}

// Close flushes, stops the syncer and closes the file. It is safe to call
// more than once.
func (s *sink) Close(ctx context.Context) error {
	err := s.Flush(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = errors.Join(err, s.file.close())
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// syncLoop fsyncs every fsync_interval when there is something to
// acknowledge (fsync = "interval"), then writes the head file; with fsync =
// "never" it only writes the head file. The fsync runs outside the lock, so
// writes go on meanwhile.
func (s *sink) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		f, gen, written := s.file.current(), s.gen, s.written
		seq, hash := s.chain.Seq(), s.chain.Head()
		s.mu.Unlock()
		if s.cfg.Fsync == fsyncNever {
			if err := s.writeHead(seq, hash); err != nil {
				s.log.Error("writing the head file failed", "file", s.cfg.HeadFile, "error", err)
			}
			continue
		}
		if f == nil || written <= s.acked.Load() {
			continue
		}
		if err := f.Sync(); err != nil {
			// A rotation closed f meanwhile (after syncing it): the
			// next tick syncs the new file. Anything else is a real
			// failure, and the events stay unacknowledged.
			if !errors.Is(err, os.ErrClosed) {
				s.log.Error("fsync failed; events stay unacknowledged", "file", s.cfg.File, "error", err)
			}
			continue
		}
		s.mu.Lock()
		if gen == s.gen && written > s.acked.Load() {
			s.acked.Store(written)
		}
		s.mu.Unlock()
		// Every record up to seq is on disk now: a rotation meanwhile
		// synced the file it closed.
		if err := s.writeHead(seq, hash); err != nil {
			s.log.Error("writing the head file failed", "file", s.cfg.HeadFile, "error", err)
		}
	}
}
