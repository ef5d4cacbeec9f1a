package core_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/mxreplace/mx/core"
)

// Helpers for the Broadcaster tests: numbered parts, waits on a
// Broadcaster's state, direct subscribers and a recording ResponseWriter.

// seqPattern is the fixed content of the bodies made by seqBody.
var seqPattern = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}()

// seqBody returns a body of size bytes (at least 8). It starts with seq and
// is otherwise a fixed pattern, so a received body tells its sequence
// number and can be checked byte for byte.
func seqBody(seq, size int) []byte {
	b := make([]byte, size)
	copy(b, seqPattern)
	binary.BigEndian.PutUint64(b, uint64(seq))
	return b
}

// seqPart returns a JPEG-typed part with seqBody(seq, size).
func seqPart(seq, size int) core.Part { return core.JPEG(seqBody(seq, size)) }

// seqOf returns the sequence number of a part made by seqPart. It fails the
// test unless the body and the Content-Type are intact.
func seqOf(t testing.TB, p core.Part) int {
	t.Helper()
	if len(p.Body) < 8 {
		t.Fatalf("part body has %d bytes: %q", len(p.Body), p.Body)
	}
	seq := int(binary.BigEndian.Uint64(p.Body))
	if !bytes.Equal(p.Body, seqBody(seq, len(p.Body))) {
		t.Fatalf("part %d: body of %d bytes differs from what was published", seq, len(p.Body))
	}
	if ct := p.Header.Get("Content-Type"); ct != core.TypeJPEG {
		t.Fatalf("part %d: Content-Type %q, want %q", seq, ct, core.TypeJPEG)
	}
	return seq
}

// waitViewers waits until b has n viewers.
func waitViewers(t testing.TB, b *core.Broadcaster, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("Stats().Viewers == %d", n), func() bool { return b.Stats().Viewers == n })
}

// shutdown shuts b down and fails the test if that takes over waitLimit.
func shutdown(t testing.TB, b *core.Broadcaster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// subscriber pulls parts from a Broadcaster's Subscribe in a goroutine and
// records each with the time it came. It holds each part for hold before
// taking the next.
type subscriber struct {
	mu   sync.Mutex
	got  []receipt
	stop context.CancelFunc
	done chan struct{}
}

// receipt is one part a subscriber got. seq is set for seqPart parts.
type receipt struct {
	seq  int
	body []byte
	at   time.Time
	part core.Part
}

// subscribe starts a subscriber of b. Call end to stop it.
func subscribe(t testing.TB, b *core.Broadcaster, hold time.Duration) *subscriber {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for p := range b.Subscribe(ctx) {
			s.mu.Lock()
			r := receipt{body: p.Body, at: time.Now(), part: p}
			if len(p.Body) >= 8 {
				r.seq = seqOf(t, p)
			}
			s.got = append(s.got, r)
			s.mu.Unlock()
			if hold > 0 {
				time.Sleep(hold)
			}
		}
	}()
	return s
}

// receipts returns the parts received so far.
func (s *subscriber) receipts() []receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receipt(nil), s.got...)
}

// end stops the subscriber, waits for it and returns all it received.
func (s *subscriber) end() []receipt {
	s.stop()
	<-s.done
	return s.receipts()
}

// flushRecorder is a ResponseWriter that keeps each Write call, with the
// address of the bytes written, and hands over the writes made between two
// flushes as one batch. It has the Flush and SetWriteDeadline that Serve's
// ResponseController looks for.
type flushRecorder struct {
	header  http.Header
	mu      sync.Mutex
	pending []flushedWrite
	batches chan []flushedWrite
}

// flushedWrite is one Write call seen by a flushRecorder.
type flushedWrite struct {
	data string
	ptr  uintptr // address of the written bytes
}

func newFlushRecorder() *flushRecorder {
	return &flushRecorder{header: http.Header{}, batches: make(chan []flushedWrite, 100)}
}

func (r *flushRecorder) Header() http.Header              { return r.header }
func (r *flushRecorder) WriteHeader(int)                  {}
func (r *flushRecorder) SetWriteDeadline(time.Time) error { return nil }

func (r *flushRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, flushedWrite{string(p), uintptr(unsafe.Pointer(unsafe.SliceData(p)))})
	return len(p), nil
}

func (r *flushRecorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		r.batches <- r.pending
		r.pending = nil
	}
}

// batch returns the writes of the next flush. It fails the test if no
// flush comes within waitLimit.
func (r *flushRecorder) batch(t testing.TB) []flushedWrite {
	t.Helper()
	select {
	case b := <-r.batches:
		return b
	case <-time.After(waitLimit):
		t.Fatal("timed out waiting for a flush")
	}
	return nil
}
