package verify

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/argusmcp/argus/shared/auditlog"
	"github.com/argusmcp/argus/shared/auditlog/fastcanon"
)

// blockSize is how much the reader hands a worker at once: whole lines,
// about 1 MiB (more when a line is longer).
const blockSize = 1 << 20

// lineResult is what a worker found on one line: everything the chain
// check needs that does not depend on the lines before it.
type lineResult struct {
	torn       bool  // the file's last line, without a newline
	err        error // not an audit record
	seq        uint64
	prev, hash [32]byte
	hashOK     bool   // hash matches the content and prev_hash
	otherChain bool   // delivery.chain is not the chain's
	chain      string // delivery.chain when otherChain
	gap        bool   // may be an audit_gap record
}

// block is a run of whole lines of one file.
type block struct {
	file int
	line int // number of the first line
	data []byte
	torn bool // the last line has no newline (the end of the file)
	err  error
	res  []lineResult
	done chan struct{}
	buf  []byte // what data is cut from
}

// scan reads files in order and calls fn for every line with its
// result, in order, until fn returns false or an error. A reader
// goroutine cuts the files into blocks, workers check the blocks' lines
// in parallel, and fn runs on the calling goroutine. line and r are valid
// only until fn returns: their block is recycled.
func (v *verifier) scan(files []string, chain string, fn func(at place, line []byte, r *lineResult) (bool, error)) error {
	work := make(chan *block, v.workers*2)
	ordered := make(chan *block, v.workers*4)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(ordered)
		v.readBlocks(files, work, ordered, quit)
	}()
	for range v.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newChecker(v.opts.Key, chain)
			for b := range work {
				w.block(b)
				close(b.done)
			}
		}()
	}
	defer func() {
		close(quit)
		for b := range ordered { // let the reader see quit
			<-b.done
		}
		wg.Wait()
	}()
	for b := range ordered {
		<-b.done
		if b.err != nil {
			return b.err
		}
		data := b.data
		for i := range b.res {
			end := bytes.IndexByte(data, '\n')
			if end < 0 {
				end = len(data)
			}
			line := data[:end:end]
			data = data[min(end+1, len(data)):]
			more, err := fn(place{Position{files[b.file], b.line + i}, b.file}, line, &b.res[i])
			if err != nil || !more {
				return err
			}
		}
		b.recycle()
	}
	return nil
}

// blocks recycles blocks: a verify allocates a few and reuses them
// instead of asking the runtime (and the kernel) for 1 MiB per block.
var blocks = sync.Pool{New: func() any { return new(block) }}

// newBlock is a recycled block whose data can hold n bytes.
func newBlock(n int) *block {
	b := blocks.Get().(*block)
	if cap(b.buf) < n {
		b.buf = make([]byte, 0, n)
	}
	*b = block{buf: b.buf[:0], res: b.res[:0]}
	return b
}

func (b *block) recycle() {
	if poisonRecycled {
		clear(b.buf[:cap(b.buf)])
		clear(b.res)
	}
	if cap(b.buf) <= 2*blockSize { // not the odd huge one
		blocks.Put(b)
	}
}

// poisonRecycled, set by tests, wipes blocks as they are recycled, so
// that a line or result used after its block was recycled shows.
var poisonRecycled = false

// readBlocks cuts the files into blocks and sends each to both channels
// (to a worker, and in order to the consumer).
func (v *verifier) readBlocks(files []string, work, ordered chan<- *block, quit <-chan struct{}) {
	send := func(b *block) bool {
		b.done = make(chan struct{})
		if b.err != nil {
			close(b.done)
		} else {
			select {
			case work <- b:
			case <-quit:
				return false
			}
		}
		select {
		case ordered <- b:
			return true
		case <-quit:
			return false
		}
	}
	for i, path := range files {
		f, err := v.open(path)
		if err != nil {
			send(&block{file: i, err: err})
			return
		}
		line := 1
		next := newBlock(blockSize)
		for {
			b := next
			buf := b.buf[:cap(b.buf)]
			carried := len(b.buf)
			n, err := io.ReadFull(f, buf[carried:])
			buf = buf[:carried+n]
			v.lines += int64(bytes.Count(buf[carried:], []byte{'\n'}))
			if v.opts.Progress != nil {
				v.opts.Progress(v.read, v.lines)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if len(buf) == 0 {
					b.recycle()
					break
				}
				b.file, b.line, b.data, b.torn = i, line, buf, buf[len(buf)-1] != '\n'
				if !send(b) {
					f.Close()
					return
				}
				break
			}
			if err != nil {
				f.Close()
				send(&block{file: i, err: &fs.PathError{Op: "read", Path: path, Err: err}})
				return
			}
			cut := bytes.LastIndexByte(buf, '\n')
			if cut < 0 { // a line longer than the block
				next = newBlock(2 * len(buf))
				next.buf = append(next.buf, buf...)
				b.recycle()
				continue
			}
			// The rest goes into the next block before this one is sent:
			// once sent, it may be recycled.
			carry := buf[cut+1:]
			next = newBlock(max(blockSize, 2*len(carry)))
			next.buf = append(next.buf, carry...)
			b.file, b.line, b.data = i, line, buf[:cut+1:cut+1]
			line += bytes.Count(b.data, []byte{'\n'})
			if !send(b) {
				f.Close()
				return
			}
		}
		f.Close()
	}
}

// countingFile is an audit file being read, counting the bytes read from
// the disk into the verifier (for progress).
type countingFile struct {
	f *os.File
	r io.Reader
}

func (c *countingFile) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *countingFile) Close() error               { return c.f.Close() }

type counter struct {
	f    *os.File
	read *int64
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	*c.read += int64(n)
	return n, err
}

func (v *verifier) open(path string) (*countingFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	cf := &countingFile{f: f, r: counter{f, &v.read}}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bufio.NewReaderSize(cf.r, 256<<10))
		if err != nil {
			f.Close()
			return nil, &fs.PathError{Op: "gunzip", Path: path, Err: err}
		}
		cf.r = zr
	}
	return cf, nil
}

// checker checks lines; one per worker.
type checker struct {
	h     *auditlog.Hasher
	chain string
	fast  fastcanon.Canonicaliser
}

func newChecker(key []byte, chain string) *checker {
	return &checker{h: auditlog.NewHasher(key), chain: chain}
}

func (c *checker) block(b *block) {
	n := bytes.Count(b.data, []byte{'\n'})
	if b.torn {
		n++
	}
	b.res = slices.Grow(b.res[:0], n)[:n]
	clear(b.res)
	data := b.data
	for i := range b.res {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			end = len(data)
			b.res[i].torn = true
		}
		if !b.res[i].torn {
			c.line(data[:end], &b.res[i])
		}
		data = data[min(end+1, len(data)):]
	}
}

func (c *checker) line(line []byte, r *lineResult) {
	if rec, ok := c.fast.Record(line); ok {
		r.gap = rec.Gap
		r.seq = rec.Seq
		hex.Decode(r.prev[:], rec.PrevHash)
		hex.Decode(r.hash[:], rec.Hash)
		r.hashOK = c.h.SumRaw(rec.PrevHash, c.fast.Canonical()) == r.hash
		if string(rec.Chain) != c.chain {
			r.otherChain, r.chain = true, string(rec.Chain)
		}
		return
	}
	// The marker cannot occur inside a JSON string (its quotes would be
	// escaped); ParseGap checks it is the top-level event_type.
	r.gap = bytes.Contains(line, fastcanon.GapMarker)
	rec, canon, err := auditlog.ParseCanonical(line)
	if err != nil {
		r.err = err
		return
	}
	r.seq = rec.Integrity.Seq
	hex.Decode(r.prev[:], []byte(rec.Integrity.PrevHash))
	hex.Decode(r.hash[:], []byte(rec.Integrity.Hash))
	r.hashOK = c.h.SumRaw([]byte(rec.Integrity.PrevHash), canon) == r.hash
	if rec.Delivery.Chain != c.chain {
		r.otherChain, r.chain = true, rec.Delivery.Chain
	}
}
