package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"time"

	"github.com/mxreplace/mx/core"
)

// Reconnect backoff: the first retry waits minBackoff. Each failure
// without a frame doubles the wait, up to maxBackoff. A frame resets it.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// relay keeps one connection to an upstream stream. It publishes each
// allowed image part to b, whatever the number of viewers.
type relay struct {
	url     string // as given
	shown   string // for logs: url with any password redacted
	timeout time.Duration
	allowed []string // media types to re-serve
	b       *core.Broadcaster
	client  *http.Client
	dropped map[string]bool // kinds of dropped parts, logged once each
}

func newRelay(url, shown string, timeout time.Duration, allowed []string, b *core.Broadcaster) *relay {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	return &relay{url: url, shown: shown, timeout: timeout, allowed: allowed, b: b,
		client: &http.Client{Transport: tr}, dropped: map[string]bool{}}
}

// run connects, relays and reconnects with backoff until ctx is done. A
// failure that repeats with the same message is logged once. The first
// frame after a failure is logged as a recovery.
func (r *relay) run(ctx context.Context) {
	delay := minBackoff
	failed := "" // the last failure logged; "" while all is well
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		frames, err := r.relay(ctx, func() {
			if failed != "" {
				log.Printf("relay: upstream %s: receiving again", r.shown)
				failed = ""
			}
		})
		if ctx.Err() != nil || errors.Is(err, core.ErrShutdown) {
			return
		}
		if frames > 0 {
			delay = minBackoff
		}
		if msg := err.Error(); msg != failed {
			log.Printf("relay: upstream %s: %s; reconnecting (backoff %v to %v)", r.shown, msg, minBackoff, maxBackoff)
			failed = msg
		}
		timer.Reset(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		delay = min(2*delay, maxBackoff)
	}
}

// errStalled ends a connection that sent no part for the timeout.
var errStalled = errors.New("stalled")

// relay makes one connection and publishes its frames until it ends. It
// returns the number of frames published and why it ended, never nil.
// first is called after the first frame.
func (r *relay) relay(ctx context.Context, first func()) (frames int, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(r.timeout, func() { cancel(errStalled) })
	defer stall.Stop()
	defer func() {
		if errors.Is(context.Cause(ctx), errStalled) {
			err = fmt.Errorf("nothing received for %v", r.timeout)
		}
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "mx-relay")
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			return frames, err
		}
		stall.Reset(r.timeout)
		mt, ok := r.check(p)
		if !ok {
			continue
		}
		part := core.Part{Header: textproto.MIMEHeader{"Content-Type": {mt}}, Body: p.Body}
		if err := r.b.Publish(part); errors.Is(err, core.ErrDelimiter) {
			r.drop("bodies that hold the stream's delimiter")
			continue
		} else if err != nil {
			return frames, err
		}
		if frames++; frames == 1 {
			first()
		}
	}
	return frames, errors.New("the stream ended")
}

// check returns the media type of an image part to re-serve. The part
// needs exactly one Content-Type, an allowed media type, and a body that
// looks like that type. Any other part is dropped.
func (r *relay) check(p core.Part) (string, bool) {
	cts := p.Header.Values("Content-Type")
	if len(cts) != 1 {
		r.drop(fmt.Sprintf("%d Content-Type fields", len(cts)))
		return "", false
	}
	mt, _, err := mime.ParseMediaType(cts[0])
	switch {
	case err != nil:
		r.drop(fmt.Sprintf("Content-Type %q", cts[0]))
	case !slices.Contains(r.allowed, mt):
		r.drop("type " + mt)
	case http.DetectContentType(p.Body) != mt:
		r.drop(mt + " whose body is not " + mt)
	default:
		return mt, true
	}
	return "", false
}

// drop logs a kind of dropped part the first time it comes.
func (r *relay) drop(kind string) {
	if !r.dropped[kind] {
		r.dropped[kind] = true
		log.Printf("relay: dropping upstream parts: %s (logged once)", kind)
	}
}
