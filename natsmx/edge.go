package natsmx

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mxreplace/mx/core"
)

// Defaults of EdgeOptions.
const (
	DefaultPendingParts  = 4
	DefaultLatestTimeout = 2 * time.Second
)

// EdgeOptions configures an Edge. A nil *EdgeOptions means the defaults.
type EdgeOptions struct {
	// IdleRepeat and MaxFPS set the fields of the same name of the Edge's
	// local core.Broadcaster. Default 0 (never, no cap).
	IdleRepeat time.Duration
	MaxFPS     float64
	// PendingParts bounds the messages NATS holds for the subscription
	// while the Edge's NATS callback is busy; beyond it NATS drops the
	// newest (counted in EdgeStats.Lost) and the Edge asks the Origin for
	// its latest part. Default DefaultPendingParts.
	PendingParts int
	// SnapshotWait sets the field of the same name of the local
	// Broadcaster: how long SnapshotHandler waits for a first part before
	// it answers 503. Default core.DefaultSnapshotWait.
	SnapshotWait time.Duration
	// LatestTimeout bounds a request for the latest part. Default
	// DefaultLatestTimeout.
	LatestTimeout time.Duration
	// ErrorLog receives what the Edge cannot pass on (a message that is
	// not a valid part, a failed subscription). Default: the log package's
	// standard logger.
	ErrorLog *log.Logger
}

// EdgeStats counts what an Edge did: its local Broadcaster's counters
// (viewers, parts published and sent), and its own.
type EdgeStats struct {
	core.Stats
	Subscribed bool   // the Edge holds its NATS subscription now
	Received   uint64 // parts received, live or as the latest part
	Replaced   uint64 // parts replaced by a newer one before the Edge published them
	Stale      uint64 // received parts not newer than one already published
	Lost       uint64 // parts NATS dropped because the Edge fell behind
	Invalid    uint64 // messages that were not valid parts
}

// Edge serves the parts of a NATS subject to local viewers through a local
// core.Broadcaster: Subscribe is a core.Source with every property of
// core.Broadcaster.Subscribe (latest part wins, no copy per viewer, clean
// end at Shutdown). Part headers come as the Origin sent them, X-Timestamp
// included.
//
// A part marked core.Part.Last (see Origin.Publish) ends the Edge: its
// viewers' streams end after that part, it unsubscribes, and new viewers
// get an empty stream.
//
// The Edge subscribes to the subject when its first viewer comes, asks the
// Origin for the latest part at once (and again after a reconnect), and
// unsubscribes when its last viewer leaves. Parts older than one already
// published are dropped, so viewers get an Origin's parts in order and
// never twice.
//
// Make one Edge per subject per process, and serve all of that subject's
// viewers from it: each Edge holds its own subscription.
//
// An Edge is safe for concurrent use.
type Edge struct {
	nc      *nats.Conn
	subject string
	opts    EdgeOptions
	b       core.Broadcaster

	mu      sync.Mutex // guards the fields below; held while publishing to b, for order
	viewers int
	closed  bool
	sub     *subscription // while there are viewers
	origin  string        // OriginHeader of the newest part published
	seq     uint64        // its SeqHeader
	wg      sync.WaitGroup

	received, replaced, stale, lost, invalid atomic.Uint64
}

// NewEdge returns an Edge for subject on nc. The subject must be a literal
// NATS subject. Nothing is subscribed before the first viewer.
func NewEdge(nc *nats.Conn, subject string, opts *EdgeOptions) (*Edge, error) {
	if nc == nil {
		return nil, errors.New("natsmx: NewEdge needs a connection")
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	e := &Edge{nc: nc, subject: subject}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.PendingParts <= 0 {
		e.opts.PendingParts = DefaultPendingParts
	}
	if e.opts.LatestTimeout <= 0 {
		e.opts.LatestTimeout = DefaultLatestTimeout
	}
	if e.opts.ErrorLog == nil {
		e.opts.ErrorLog = log.Default()
	}
	e.b.IdleRepeat, e.b.MaxFPS, e.b.SnapshotWait = e.opts.IdleRepeat, e.opts.MaxFPS, e.opts.SnapshotWait
	return e, nil
}

// Subscribe is a core.Source: each call is one viewer, which gets the
// latest part at once (if any), then each newer part as it can take it.
// The sequence ends when ctx is done or the Edge shuts down. Use it as
// core.Handler(e.Subscribe, nil).
func (e *Edge) Subscribe(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		if !e.join(ctx) {
			return
		}
		defer e.leave()
		for p := range e.b.Subscribe(ctx) {
			if !yield(p) {
				return
			}
		}
	}
}

// join counts a viewer in, subscribing for the first one, and waits until
// the subscription has asked the Origin for its latest part (or ctx is
// done), so that no viewer starts with a part older than the Origin's
// latest. It returns false when the Edge is shut down or cannot subscribe.
func (e *Edge) join(ctx context.Context) bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	if e.viewers == 0 {
		if err := e.subscribe(); err != nil {
			e.mu.Unlock()
			e.opts.ErrorLog.Printf("%v", err)
			return false
		}
	}
	e.viewers++
	ready := e.sub.ready
	e.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
	}
	return true
}

// leave counts a viewer out, unsubscribing after the last one.
func (e *Edge) leave() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.viewers--
	if e.viewers == 0 {
		e.unsubscribe()
	}
}

// subscription is the Edge's subscription while it has viewers. Its NATS
// callback only keeps the newest message, so that NATS's queue for it
// drains at once; its goroutine publishes that message.
type subscription struct {
	sub    *nats.Subscription
	next   atomic.Pointer[nats.Msg] // newest message not yet published
	wake   chan struct{}            // a message is waiting in next
	ready  chan struct{}            // closed once the first request for the latest part is done
	cancel context.CancelFunc       // ends the goroutine
}

// subscribe subscribes to the subject and starts the goroutine that
// publishes what comes, and asks for the latest part now, after each
// reconnect, and after NATS dropped messages. e.mu is held.
func (e *Edge) subscribe() error {
	s := &subscription{wake: make(chan struct{}, 1), ready: make(chan struct{})}
	sub, err := e.nc.Subscribe(e.subject, func(m *nats.Msg) {
		if s.next.Swap(m) != nil {
			e.replaced.Add(1)
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("natsmx: subscribe %s: %w", e.subject, err)
	}
	sub.SetPendingLimits(e.opts.PendingParts, -1)
	s.sub = sub
	// Listen before the first request, so that no reconnect is missed.
	status := e.nc.StatusChanged(nats.CONNECTED)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	e.sub = s
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.nc.RemoveStatusListener(status)
		e.follow(ctx, s, status)
	}()
	return nil
}

// retryLatest is the wait before a request for the latest part that
// failed (other than for want of an Origin) is made again.
const retryLatest = 250 * time.Millisecond

// follow publishes the messages of s as they come, and asks for the latest
// part at once, after each reconnect (status), and after NATS dropped
// messages, until ctx is done.
func (e *Edge) follow(ctx context.Context, s *subscription, status chan nats.Status) {
	retry := time.NewTimer(retryLatest)
	defer retry.Stop()
	fetch := func() {
		if err := e.fetchLatest(ctx); err != nil && !errors.Is(err, nats.ErrNoResponders) && ctx.Err() == nil {
			retry.Reset(retryLatest)
		}
	}
	fetch()
	close(s.ready)
	dropped := 0
	for {
		select {
		case <-s.wake:
			if m := s.next.Swap(nil); m != nil {
				e.receive(m)
			}
			// NATS drops the newest messages when its queue is full: the
			// latest part may be among them.
			if n, err := s.sub.Dropped(); err == nil && n > dropped {
				dropped = n
				fetch()
			}
		case <-status:
			fetch()
		case <-retry.C:
			fetch()
		case <-ctx.Done():
			return
		}
	}
}

// unsubscribe ends the subscription. e.mu is held.
func (e *Edge) unsubscribe() {
	if e.sub == nil {
		return
	}
	if n, err := e.sub.sub.Dropped(); err == nil {
		e.lost.Add(uint64(n))
	}
	e.sub.sub.Unsubscribe()
	e.sub.cancel()
	e.sub = nil
}

// fetchLatest asks the Origin for its latest part and publishes it if it
// is newer than what the Edge has. No Origin (nats.ErrNoResponders) is not
// an error: its first part will come live.
func (e *Edge) fetchLatest(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.opts.LatestTimeout)
	defer cancel()
	m, err := e.nc.RequestWithContext(ctx, LatestSubject(e.subject), nil)
	if err != nil {
		return err
	}
	e.receive(m)
	return nil
}

// receive publishes the part a message carries to the local Broadcaster,
// unless it is not newer than the last part published from its Origin.
func (e *Edge) receive(m *nats.Msg) {
	p, origin, seq, err := decode(m)
	if err != nil {
		e.invalid.Add(1)
		e.opts.ErrorLog.Printf("natsmx: %s: %v", e.subject, err)
		return
	}
	if origin != "" && seq == 0 {
		return // the Origin has no part yet
	}
	e.received.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if origin != "" && origin == e.origin && seq <= e.seq {
		e.stale.Add(1)
		return
	}
	e.origin, e.seq = origin, seq
	if err := e.b.Publish(p); err != nil && !errors.Is(err, core.ErrShutdown) {
		e.invalid.Add(1)
		e.opts.ErrorLog.Printf("natsmx: %s: %v", e.subject, err)
	}
	if p.Last { // the stream is over: the Broadcaster has shut down
		e.closed = true
		e.unsubscribe()
	}
}

// Snapshot returns the latest part the Edge has, and false when it has none.
// Without viewers, the Edge is not subscribed and the part may be old; see
// SnapshotHandler.
func (e *Edge) Snapshot() (core.Part, bool) { return e.b.Snapshot() }

// SnapshotHandler returns a handler that answers with the latest part as
// one response, like core.Broadcaster.SnapshotHandler: it waits up to
// EdgeOptions.SnapshotWait for a first part, then answers 503. The request
// counts as a viewer while it is served, so an Edge without viewers first
// asks the Origin for its latest part and never answers with an old one.
func (e *Edge) SnapshotHandler() http.Handler {
	local := e.b.SnapshotHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && e.join(r.Context()) {
			defer e.leave()
		}
		local.ServeHTTP(w, r)
	})
}

// Stats returns the counters.
func (e *Edge) Stats() EdgeStats {
	e.mu.Lock()
	subscribed := e.sub != nil
	lost := e.lost.Load()
	if subscribed {
		if n, err := e.sub.sub.Dropped(); err == nil {
			lost += uint64(n)
		}
	}
	e.mu.Unlock()
	return EdgeStats{
		Stats: e.b.Stats(), Subscribed: subscribed,
		Received: e.received.Load(), Replaced: e.replaced.Load(), Stale: e.stale.Load(), Lost: lost, Invalid: e.invalid.Load(),
	}
}

// Shutdown unsubscribes, ends every viewer's stream cleanly (see
// core.Broadcaster.Shutdown) and waits for them and for the Edge's
// goroutine, or until ctx is done. New viewers get an empty stream. It
// does not close the connection.
func (e *Edge) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.unsubscribe()
	e.mu.Unlock()
	err := e.b.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("natsmx: edge shutdown: %w", err)
	}
	return nil
}
