package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxreplace/mx/core"
)

// viewer is one client. Its counters are written by its own goroutine and
// read by the progress reporter.
type viewer struct {
	l         *load
	g         *group // the transport it shares
	first     bool   // the group's first viewer: connects before the others
	lastTS    int64
	frames    int64 // distinct frames in the window
	parts     atomic.Int64
	bytes     atomic.Int64
	winBytes  atomic.Int64
	winParts  atomic.Int64
	connected bool
	done      bool
	pr        *partReader
}

func (v *viewer) run(ctx context.Context) {
	l := v.l
	for attempt := 0; ; attempt++ {
		err := v.stream(ctx)
		if v.done || ctx.Err() != nil {
			return
		}
		var re *requestError
		if errors.As(err, &re) {
			l.record(re.err, false)
			if l.everConnected.Load() == 0 && attempt == 0 {
				l.cancel(err) // the first viewers fail: stop at once
				return
			}
		} else {
			l.record(err, true)
		}
		t := time.NewTimer(time.Second) // back off, then reconnect
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// requestError is a failure before the stream started.
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }

// stream runs one request to its end. It returns nil when the viewer is
// done, a *requestError when there was no stream.
func (v *viewer) stream(ctx context.Context) error {
	l := v.l
	if !v.first {
		if err := v.g.wait(ctx); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.cfg.URL, nil)
	if err != nil {
		return &requestError{err}
	}
	if l.prof.name != ClientNetHTTP { // http.Get's User-Agent otherwise
		req.Header.Set("User-Agent", "mxload/1")
	}
	resp, err := v.g.client.Do(req)
	if v.first {
		v.g.connected()
	}
	if err != nil {
		return &requestError{unwrapURLError(err)}
	}
	defer resp.Body.Close()
	boundary, err := boundaryOf(resp)
	if err != nil {
		return &requestError{err}
	}
	if l.cfg.H2 && resp.ProtoMajor != 2 {
		return &requestError{fmt.Errorf("server answered %s, want HTTP/2", resp.Proto)}
	}
	l.connected.Add(1)
	defer l.connected.Add(-1)
	l.everConnected.Add(1)
	v.connected = true

	if l.prof.parser == ParserCore {
		return v.streamCore(resp)
	}
	if v.pr == nil {
		v.pr = newPartReader(l.cfg.BufSize, v.onRead)
		v.pr.maxRead = l.prof.readSize
	}
	v.pr.reset(resp.Body, boundary)
	var info partInfo
	for {
		if err := v.pr.next(&info); err != nil {
			if errors.Is(err, errStreamEnd) {
				err = errors.New("stream ended")
			}
			return err
		}
		if info.final {
			continue
		}
		if v.part(info.ts, info.at); v.done {
			return nil
		}
	}
}

func (v *viewer) streamCore(resp *http.Response) error {
	resp.Body = &countingReader{ReadCloser: resp.Body, v: v}
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			return err
		}
		ts := int64(-1)
		if s := p.Header.Get(core.TimestampHeader); s != "" {
			ts = parseTimestamp([]byte(s))
		}
		if v.part(ts, time.Now()); v.done {
			return nil
		}
	}
	return errors.New("stream ended")
}

type countingReader struct {
	io.ReadCloser
	v *viewer
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.v.onRead(n, time.Now())
	}
	return n, err
}

func (v *viewer) onRead(n int, at time.Time) {
	v.bytes.Add(int64(n))
	if !at.Before(v.l.wStart) && at.Before(v.l.wEnd) {
		v.winBytes.Add(int64(n))
	}
}

// part accounts one received part.
func (v *viewer) part(ts int64, at time.Time) {
	l := v.l
	v.parts.Add(1)
	inWindow := !at.Before(l.wStart) && at.Before(l.wEnd)
	if inWindow {
		v.winParts.Add(1)
	}
	if ts < 0 { // no timestamp: count parts by receipt time
		l.noTimestamp.Store(true)
		if inWindow {
			v.frames++
		}
		v.done = !at.Before(l.wEnd)
		return
	}
	if ts <= v.lastTS { // a repeat
		return
	}
	v.lastTS = ts
	us := at.UnixMicro() - ts
	if us < 0 {
		l.negative.Add(1)
		us = 0
	}
	switch {
	case ts < l.wStartUS:
		l.warm.add(us)
	case ts < l.wEndUS:
		v.frames++
		l.lat.add(us)
		l.frames.add(ts)
	default:
		v.done = true
	}
}

func boundaryOf(resp *http.Response) (string, error) {
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("server answered %s", resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return "", fmt.Errorf("server answered Content-Type %q, want %s with a boundary", ct, core.MediaType)
	}
	return params["boundary"], nil
}

// unwrapURLError drops the *url.Error wrapping, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorKind returns err's message without the addresses and ports that
// would make every connection's error distinct.
func errorKind(err error) string {
	var oe *net.OpError
	switch {
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	}
	msg := err.Error()
	return msg[:min(len(msg), 160)]
}
