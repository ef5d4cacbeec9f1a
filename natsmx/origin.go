package natsmx

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/mxreplace/mx/core"
)

// flushTimeout bounds the flush of Origin.Shutdown when its context has no
// deadline of its own.
const flushTimeout = 5 * time.Second

// Origin publishes parts to a local core.Broadcaster and to a NATS subject,
// one message per part, and answers requests for the latest part on
// LatestSubject(subject).
//
// Publish never waits on NATS: one goroutine per Origin hands messages to
// the connection, and when the connection is slower than the producer it
// skips to the newest part. Publish the parts through the Origin, not
// through its Broadcaster, or they stay local.
//
// An Origin is safe for concurrent use.
type Origin struct {
	nc      *nats.Conn
	subject string
	b       *core.Broadcaster
	log     *log.Logger
	id      string

	mu      sync.Mutex // serializes Publish; guards seq, closed
	seq     uint64
	closed  bool
	latest  atomic.Pointer[nats.Msg] // newest message published
	next    atomic.Pointer[nats.Msg] // newest message not yet handed to nc
	wake    chan struct{}            // a message is waiting in next
	done    chan struct{}            // closed by Shutdown
	stopped chan struct{}            // closed when the sending goroutine returns
	resp    *nats.Subscription

	sent, skipped, failed, answered atomic.Uint64
}

// OriginOptions configures an Origin. A nil *OriginOptions means the
// defaults.
type OriginOptions struct {
	// ErrorLog receives the errors the sending goroutine meets (a
	// connection that refuses a message), once each time the error
	// changes. Default: the log package's standard logger.
	ErrorLog *log.Logger
}

// OriginStats counts what an Origin did.
type OriginStats struct {
	Sent     uint64 // messages handed to the NATS connection
	Skipped  uint64 // parts not sent because a newer part replaced them first
	Failed   uint64 // messages not sent: connection down or closed
	Answered uint64 // requests for the latest part answered
}

// NewOrigin returns an Origin that publishes to b and to subject on nc. The
// subject must be a literal NATS subject (no wildcards). The Origin
// subscribes to LatestSubject(subject) at once, and starts its sending
// goroutine; Shutdown ends both.
func NewOrigin(nc *nats.Conn, subject string, b *core.Broadcaster, opts *OriginOptions) (*Origin, error) {
	if nc == nil || b == nil {
		return nil, errors.New("natsmx: NewOrigin needs a connection and a Broadcaster")
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	o := &Origin{
		nc: nc, subject: subject, b: b, log: log.Default(), id: nuid.Next(),
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
	}
	if opts != nil && opts.ErrorLog != nil {
		o.log = opts.ErrorLog
	}
	resp, err := nc.Subscribe(LatestSubject(subject), o.answer)
	if err != nil {
		return nil, fmt.Errorf("natsmx: subscribe %s: %w", LatestSubject(subject), err)
	}
	o.resp = resp
	go o.send()
	return o, nil
}

// Publish publishes p to the Broadcaster, then queues it for NATS. It
// never waits on NATS. It refuses a part that would not fit in one NATS
// message (its body, its header and the Origin's own fields, against the
// connection's max payload) with an error wrapping nats.ErrMaxPayload,
// and publishes it nowhere. Other errors are the Broadcaster's, wrapped
// (core.ErrInvalidHeader, core.ErrDelimiter, or core.ErrShutdown after
// Shutdown or a part marked Last).
//
// A part marked Last ends the streams of the Origin's viewers and of every
// Edge's viewers. The Origin then answers requests for the latest part with
// it, so an Edge that comes later is ended too: like a Broadcaster after
// its last part, it serves empty streams.
func (o *Origin) Publish(p core.Part) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("natsmx: %w", core.ErrShutdown)
	}
	extra := 0
	if o.b.Timestamps {
		extra = timestampSize
	}
	if max := o.nc.MaxPayload(); max > 0 {
		if n := messageSize(p, o.id, o.seq+1, extra); int64(n) > max {
			return fmt.Errorf("natsmx: %w: a part of %d bytes with its header, the connection's max payload is %d",
				nats.ErrMaxPayload, n, max)
		}
	}
	var before uint64
	if o.b.DropRepeats {
		before = o.b.Stats().Published
	}
	if err := o.b.Publish(p); err != nil {
		return fmt.Errorf("natsmx: %w", err)
	}
	if o.b.DropRepeats && o.b.Stats().Published == before {
		return nil // dropped as a repeat of the previous part
	}
	q, _ := o.b.Snapshot() // p as published, with its X-Timestamp if any
	o.seq++
	m := message(o.subject, q, o.id, o.seq)
	o.latest.Store(m)
	if o.next.Swap(m) != nil {
		o.skipped.Add(1)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// send hands each newest message to the connection until Shutdown; the
// message waiting then is sent before it returns. While the connection is
// down it sends nothing: the client would buffer the messages and deliver
// them late, all at once. Once reconnected, it sends the latest message
// again if it was not sent (Edges drop it if they have it).
func (o *Origin) send() {
	defer close(o.stopped)
	status := o.nc.StatusChanged(nats.CONNECTED)
	defer o.nc.RemoveStatusListener(status)
	var lastErr error
	var unsent *nats.Msg // the latest message, when it could not be sent
	for {
		select {
		case <-o.wake:
		case <-status:
			if unsent != nil {
				o.next.CompareAndSwap(nil, unsent)
			}
		case <-o.done:
		}
		if m := o.next.Swap(nil); m != nil {
			err := errNotConnected
			if o.nc.IsConnected() {
				err = o.nc.PublishMsg(m)
			}
			unsent = nil
			if err != nil {
				o.failed.Add(1)
				unsent = m
				if lastErr == nil || err.Error() != lastErr.Error() {
					o.log.Printf("natsmx: publish %s: %v", o.subject, err)
				}
			} else {
				o.sent.Add(1)
			}
			lastErr = err
		}
		select {
		case <-o.done:
			if o.next.Load() == nil {
				return
			}
		default:
		}
	}
}

var errNotConnected = errors.New("not connected: parts are dropped until the connection is back")

// answer replies to a request for the latest part: the latest message, or,
// before the first part, a message with OriginHeader and no SeqHeader
// value but 0.
func (o *Origin) answer(req *nats.Msg) {
	if req.Reply == "" {
		return
	}
	reply := &nats.Msg{Header: nats.Header{OriginHeader: {o.id}, SeqHeader: {"0"}}}
	if m := o.latest.Load(); m != nil {
		reply = &nats.Msg{Header: m.Header, Data: m.Data}
	}
	if req.RespondMsg(reply) == nil {
		o.answered.Add(1)
	}
}

// Stats returns the counters.
func (o *Origin) Stats() OriginStats {
	return OriginStats{Sent: o.sent.Load(), Skipped: o.skipped.Load(), Failed: o.failed.Load(), Answered: o.answered.Load()}
}

// Shutdown refuses further parts, hands the last queued part to the
// connection, stops answering requests for the latest part, flushes the
// connection, and shuts the Broadcaster down, which ends its viewers'
// streams cleanly. It waits for all of it or until ctx is done. It does
// not close the connection; Edges keep their viewers (they see a gap).
func (o *Origin) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.done)
	}
	o.mu.Unlock()
	var errs []error
	if err := o.resp.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrBadSubscription) && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, err)
	}
	select {
	case <-o.stopped:
		if o.nc.IsConnected() {
			fctx, cancel := context.WithTimeout(ctx, flushTimeout)
			if err := o.nc.FlushWithContext(fctx); err != nil {
				errs = append(errs, err)
			}
			cancel()
		}
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	errs = append(errs, o.b.Shutdown(ctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("natsmx: origin shutdown: %w", err)
	}
	return nil
}
