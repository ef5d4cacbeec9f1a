package core

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"net/http"
	"net/textproto"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TimestampHeader is the part header a Broadcaster with Timestamps set adds:
// the Unix time of Publish in seconds with microseconds, as ustreamer and
// mjpg-streamer send it.
const TimestampHeader = "X-Timestamp"

// DefaultSnapshotWait is the default of [Broadcaster.SnapshotWait].
const DefaultSnapshotWait = 5 * time.Second

// ErrShutdown is returned by [Broadcaster.Publish] after
// [Broadcaster.Shutdown], or after a part marked [Part.Last].
var ErrShutdown = errors.New("core: broadcaster shut down")

// Broadcaster hands the parts of one producer to any number of viewers: the
// latest part wins. Publish never blocks and never copies a part per viewer.
// It checks and frames the part once, for the boundary that [Serve] uses by
// default; each viewer served that way writes the same bytes with one Write
// when it is ready. A viewer that is slower than the producer skips to the
// newest part; no queue grows.
//
// The zero value is ready to use; set the option fields before the first
// call. A Broadcaster is safe for concurrent use.
type Broadcaster struct {
	// DropRepeats drops a published part whose Content-Type and body equal
	// the previous part's. Default false.
	DropRepeats bool
	// MaxFPS caps the parts per second sent to each viewer; a viewer gets the
	// latest part when its interval has passed. Default 0: no cap.
	MaxFPS float64
	// IdleRepeat sends the latest part again to a viewer that got nothing
	// new for this long, so that proxies keep the connection and browsers
	// that show a part only when the next one starts (WebKit) show it.
	// Default 0: never.
	IdleRepeat time.Duration
	// Timestamps adds TimestampHeader to each published part. Default false.
	Timestamps bool
	// SnapshotWait is how long SnapshotHandler waits for a first part
	// before it answers 503. Default DefaultSnapshotWait (5 s).
	SnapshotWait time.Duration

	once     sync.Once
	boundary string
	latest   atomic.Pointer[latest]
	closing  atomic.Bool   // set by Shutdown, before the viewers are woken
	mu       sync.Mutex    // serializes Publish; guards list, gone and idle
	done     chan struct{} // closed by Shutdown
	list     []*viewer     // running subscriptions
	gone     counts        // counts of the subscriptions that ended
	idle     chan struct{} // closed when list empties during Shutdown

	viewers   atomic.Int64
	published atomic.Uint64
	dropped   atomic.Uint64
}

// viewer is one subscription. Each has its own wake-up channel and
// counters, so that the viewers share no lock and no written cache line on
// their path: Publish wakes each one with a send that never blocks.
type viewer struct {
	wake chan struct{} // holds one token while a wake-up is pending
	i    int           // index in Broadcaster.list, guarded by its mu
	n    counts
}

// counts are a viewer's counters, written by its goroutine only.
type counts struct {
	sent, skipped, repeated atomic.Uint64
}

func (c *counts) add(o *counts) {
	c.sent.Add(o.sent.Load())
	c.skipped.Add(o.skipped.Load())
	c.repeated.Add(o.repeated.Load())
}

// latest is the newest part and the channel closed when a newer one comes
// (for SnapshotHandler's wait).
type latest struct {
	part    Part
	seq     uint64
	changed chan struct{}
}

// Stats counts what a Broadcaster did.
type Stats struct {
	Viewers   int    // viewers subscribed now
	Published uint64 // parts accepted by Publish
	Dropped   uint64 // parts dropped by DropRepeats
	Sent      uint64 // parts handed to viewers, repeats included
	Skipped   uint64 // parts viewers never got because a newer one replaced them
	Repeated  uint64 // idle repeats sent
}

func (b *Broadcaster) init() {
	b.once.Do(func() {
		b.boundary = streamBoundary()
		b.done = make(chan struct{})
		b.latest.Store(&latest{changed: make(chan struct{})})
	})
}

// Publish makes p the latest part and wakes every viewer. It never blocks on
// viewers. p must not be modified afterwards. A part that cannot be written
// safely is refused, and the previous part stays the latest: the error wraps
// [ErrInvalidHeader] or [ErrDelimiter]. After Shutdown, Publish returns
// [ErrShutdown].
//
// A part marked [Part.Last] is published as the final part: every viewer
// gets it as its last, and the Broadcaster shuts down (as Shutdown does,
// without waiting).
func (b *Broadcaster) Publish(p Part) error {
	b.init()
	if err := p.Validate(); err != nil {
		return err
	}
	if err := checkBody(p.Body, b.boundary); err != nil {
		return err
	}
	if b.Timestamps {
		h := make(textproto.MIMEHeader, len(p.Header)+1)
		for k, v := range p.Header {
			h[k] = v
		}
		now := time.Now()
		h[TimestampHeader] = []string{strconv.FormatInt(now.Unix(), 10) + "." + pad6(now.Nanosecond()/1000)}
		p.Header = h
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing.Load() {
		return ErrShutdown
	}
	old := b.latest.Load()
	if b.DropRepeats && !p.Last && old.seq > 0 && bytes.Equal(old.part.Body, p.Body) && old.part.ContentType() == p.ContentType() {
		b.dropped.Add(1)
		return nil
	}
	b.latest.Store(&latest{part: framed(p, b.boundary), seq: old.seq + 1, changed: make(chan struct{})})
	b.published.Add(1)
	close(old.changed)
	if p.Last {
		b.closing.Store(true)
		close(b.done)
	}
	b.wakeAll()
	return nil
}

// wakeAll wakes every viewer. b.mu must be held.
func (b *Broadcaster) wakeAll() {
	for _, v := range b.list {
		select {
		case v.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

func pad6(n int) string {
	s := strconv.Itoa(n)
	return "000000"[len(s):] + s
}

// Snapshot returns the latest part, and false when nothing was published.
func (b *Broadcaster) Snapshot() (Part, bool) {
	b.init()
	l := b.latest.Load()
	return l.part, l.seq > 0
}

// Subscribe is a Source: each call is one viewer, which gets the latest part
// at once (if any), then each newer part as it can take it. The sequence ends
// when ctx is done or the Broadcaster shuts down. A viewer that has not yet
// had the latest part when the Broadcaster shuts down gets it marked
// [Part.Last], so its stream ends exactly after it. Use it as
// core.Handler(b.Subscribe, nil) or ginmx.Stream(b.Subscribe).
func (b *Broadcaster) Subscribe(ctx context.Context) iter.Seq[Part] {
	b.init()
	return func(yield func(Part) bool) {
		v := b.join()
		if v == nil {
			return
		}
		defer b.leave(v)
		var minGap time.Duration
		if b.MaxFPS > 0 {
			minGap = time.Duration(float64(time.Second) / b.MaxFPS)
		}
		var timer *time.Timer
		var timerC <-chan time.Time
		if b.IdleRepeat > 0 || minGap > 0 {
			timer = time.NewTimer(time.Hour)
			defer timer.Stop()
		}
		var seen uint64
		var lastSent time.Time
		// closing is set once Shutdown has begun: the viewer still gets the
		// last part published (Publish refuses new ones by then), at once,
		// and its sequence ends.
		closing := false
		for {
			if !closing && b.closing.Load() {
				closing = true
			}
			l := b.latest.Load()
			if l.seq > seen {
				if minGap > 0 && !lastSent.IsZero() && !closing {
					if wait := minGap - time.Since(lastSent); wait > 0 {
						timer.Reset(wait)
						if !b.pause(ctx, v, timer) {
							return
						}
						continue // take the newest part now
					}
				}
				if seen > 0 && l.seq > seen+1 {
					v.n.skipped.Add(l.seq - seen - 1)
				}
				seen = l.seq
				if minGap > 0 {
					lastSent = time.Now()
				}
				v.n.sent.Add(1)
				p := l.part
				if !closing && b.closing.Load() {
					closing = true
				}
				if closing && b.latest.Load() == l {
					p.Last = true // nothing comes after it
				}
				if !yield(p) || p.Last {
					return
				}
				continue
			}
			if closing {
				return
			}
			if b.IdleRepeat > 0 && seen > 0 {
				timer.Reset(b.IdleRepeat)
				timerC = timer.C
			}
			select {
			case <-v.wake:
			case <-timerC:
				v.n.sent.Add(1)
				v.n.repeated.Add(1)
				if !yield(l.part) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}

// pause waits for timer, for MaxFPS. It returns early when the Broadcaster
// shuts down, and false when ctx is done.
func (b *Broadcaster) pause(ctx context.Context, v *viewer, timer *time.Timer) bool {
	for {
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		case <-v.wake: // a newer part waits for the timer; Shutdown does not
			if b.closing.Load() {
				return true
			}
		}
	}
}

// join registers a viewer, or returns nil after Shutdown.
func (b *Broadcaster) join() *viewer {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing.Load() {
		return nil
	}
	v := &viewer{wake: make(chan struct{}, 1), i: len(b.list)}
	b.list = append(b.list, v)
	b.viewers.Add(1)
	return v
}

func (b *Broadcaster) leave(v *viewer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	last := b.list[len(b.list)-1]
	b.list[v.i], last.i = last, v.i
	b.list[len(b.list)-1] = nil
	b.list = b.list[:len(b.list)-1]
	b.gone.add(&v.n)
	b.viewers.Add(-1)
	if len(b.list) == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
}

// Stats returns the counters.
func (b *Broadcaster) Stats() Stats {
	b.mu.Lock()
	var n counts
	n.add(&b.gone)
	for _, v := range b.list {
		n.add(&v.n)
	}
	b.mu.Unlock()
	return Stats{
		Viewers:   int(b.viewers.Load()),
		Published: b.published.Load(),
		Dropped:   b.dropped.Load(),
		Sent:      n.sent.Load(),
		Skipped:   n.skipped.Load(),
		Repeated:  n.repeated.Load(),
	}
}

// Shutdown ends every viewer's stream cleanly and refuses further parts.
// A viewer that has not had the latest part gets it first, as its last,
// even within its MaxFPS interval. Shutdown waits until every subscription
// has returned or ctx is done. Later subscriptions get an empty stream.
func (b *Broadcaster) Shutdown(ctx context.Context) error {
	b.init()
	b.mu.Lock()
	if !b.closing.Load() {
		b.closing.Store(true)
		close(b.done)
		b.wakeAll()
	}
	if len(b.list) == 0 {
		b.mu.Unlock()
		return nil
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	idle := b.idle
	b.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SnapshotHandler returns a handler that answers with the latest part as
// one response. It sends the part's Content-Type and X-Timestamp, and no
// other part header: a part's Content-Encoding, Set-Cookie or CORS fields
// must not reach a client. It adds Content-Length, "Cache-Control:
// no-store" and "X-Content-Type-Options: nosniff". Before the first part,
// it waits up to SnapshotWait, then answers 503 with Retry-After. HEAD gets
// the headers only; other methods but GET get 405.
func (b *Broadcaster) SnapshotHandler() http.Handler {
	b.init()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		l := b.latest.Load()
		if l.seq == 0 {
			wait := b.SnapshotWait
			if wait <= 0 {
				wait = DefaultSnapshotWait
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-l.changed:
			case <-r.Context().Done():
				return
			case <-b.done:
			case <-t.C:
			}
			if l = b.latest.Load(); l.seq == 0 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "no part published yet", http.StatusServiceUnavailable)
				return
			}
		}
		h := w.Header()
		h.Set("Content-Type", l.part.ContentType())
		if v := headerValue(l.part.Header, TimestampHeader); v != "" {
			h.Set(TimestampHeader, v)
		}
		h.Set("Content-Length", strconv.Itoa(len(l.part.Body)))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(l.part.Body)
		}
	})
}

// frame is a part framed once for one boundary, in both layouts, so that
// viewers write shared bytes with a single Write per part. It records the
// Header map and Body slice it was made from: a Writer uses it only for a
// part that still has both, so a part changed on its way is framed anew.
type frame struct {
	boundary    string
	header      textproto.MIMEHeader
	body        []byte
	contentType string
	length      []byte // header block, body, delimiter
	advance     []byte // body, delimiter, next header block
}

// fits reports whether f can be written for p on a stream with boundary.
func (f *frame) fits(p Part, boundary string) bool {
	return f != nil && !p.Last && f.boundary == boundary &&
		sameBytes(p.Body, f.body) &&
		len(p.Header) == len(f.header) && sameMap(p.Header, f.header)
}

// sameBytes reports whether a and b are the same slice of memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sameMap reports whether a and b are the same map, not equal maps.
func sameMap(a, b textproto.MIMEHeader) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// framed returns p with its frame for boundary attached. One buffer holds
// the header block, the body, the delimiter and the next header block: the
// length frame is its start, the advance frame its end. The body of the
// returned part shares that memory; p.Body is copied once.
func framed(p Part, boundary string) Part {
	var w Writer
	var small [512]byte
	ct := p.ContentType()
	hdr := w.appendHeader(small[:0], p, false)
	n := len(hdr) + len(p.Body) + len("\r\n--\r\nContent-Type: \r\n\r\n") + len(boundary) + len(ct)
	buf := append(make([]byte, 0, n), hdr...)
	buf = appendDelim(append(buf, p.Body...), boundary, false)
	end := len(buf)
	buf = appendAdvance(buf, ct)
	start := len(hdr)
	body := buf[start : start+len(p.Body) : start+len(p.Body)]
	f := &frame{boundary: boundary, header: p.Header, body: body, contentType: ct, length: buf[:end:end], advance: buf[start:]}
	return Part{Header: p.Header, Body: body, Last: p.Last, frame: f}
}
