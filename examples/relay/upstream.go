package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/textproto"
	"time"

	"github.com/mxreplace/mx/core"
)

// Reconnect backoff: the first retry waits minBackoff, each failure without
// a part doubles the wait up to maxBackoff, and a part received resets it.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// errStalled ends a connection that delivered no part for the stall timeout.
var errStalled = errors.New("stalled")

// errEnded is a stream the upstream ended cleanly; the relay reconnects.
var errEnded = errors.New("the stream ended")

// upstream keeps ONE connection to an MJPEG (any multipart/x-mixed-replace)
// stream and publishes each of its parts to cam, whatever the number of
// viewers.
type upstream struct {
	url     string // as given
	shown   string // for logs: url with any password redacted
	cam     *core.Broadcaster
	client  *http.Client
	timeout time.Duration // connect, response headers, and the longest gap between parts
	logger  *log.Logger
}

// run connects, relays and reconnects with backoff until ctx is done or cam
// shuts down. It logs each failure once: a failure that repeats with the
// same message while the upstream stays down is not logged again, and the
// first part after a failure is logged as a recovery.
func (u *upstream) run(ctx context.Context) {
	delay := minBackoff
	failed := "" // message of the last logged failure; "" while all is well
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		parts, err := u.relay(ctx, func() {
			if failed != "" {
				u.logger.Printf("relay: upstream %s: receiving again", u.shown)
				failed = ""
			}
		})
		if ctx.Err() != nil || errors.Is(err, core.ErrShutdown) {
			return
		}
		if parts > 0 {
			delay = minBackoff
		}
		if msg := err.Error(); msg != failed {
			u.logger.Printf("relay: upstream %s: %s; reconnecting (backoff %v to %v)", u.shown, msg, minBackoff, maxBackoff)
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

// relay makes one connection and publishes its parts until it ends. It
// returns the number of parts published and why the connection ended
// (never nil). first is called when the first part has been published.
func (u *upstream) relay(ctx context.Context, first func()) (parts int, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(u.timeout, func() { cancel(errStalled) })
	defer stall.Stop()
	defer func() {
		if errors.Is(context.Cause(ctx), errStalled) {
			err = fmt.Errorf("nothing received for %v", u.timeout)
		}
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "mx-relay")
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			return parts, err
		}
		stall.Reset(u.timeout)
		part := core.Part{Header: textproto.MIMEHeader{"Content-Type": {p.ContentType()}}, Body: p.Body}
		if err := u.cam.Publish(part); err != nil {
			return parts, err
		}
		if parts++; parts == 1 {
			first()
		}
	}
	return parts, errEnded
}
