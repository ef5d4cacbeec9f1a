package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Parsers for Config.Parser.
const (
	ParserFast = "fast" // partReader: one buffer per viewer, no allocation per part
	ParserCore = "core" // core.ReadResponse: a header map and a body slice per part
)

// Config is one load run.
type Config struct {
	URL      string        // the stream to load
	Viewers  int           // concurrent viewers, each on its own connection
	Duration time.Duration // the measured window
	Ramp     time.Duration // viewers start evenly over this time; 0: none
	Warmup   time.Duration // after the ramp, excluded from the results
	// Grace is how long viewers keep reading after the window to receive
	// the frames published in it. Default 1 s.
	Grace time.Duration
	// Client is the client profile: ClientRaw (default), ClientNetHTTP or
	// ClientSmall.
	Client string
	// Parser is ParserFast or ParserCore. Default: the client profile's.
	Parser string
	// BufSize is the read buffer of each viewer (ParserFast). Default 64 KiB.
	BufSize int
	// ReadSize caps the bytes asked of the body by one read. Default: the
	// client profile's (BufSize, 4 KiB or 2 KiB).
	ReadSize int
	// H2 makes the viewers speak HTTP/2 (over TLS: the URL must be https),
	// H2Streams of them on each connection as a browser's page would.
	// Default H2Streams: DefaultH2Streams. A Go server allows 250 streams
	// per connection; beyond a server's limit the transport opens more
	// connections.
	H2        bool
	H2Streams int
	// Progress, if set, gets a status line every second; with ProgressTTY
	// the line is rewritten in place ("\r").
	Progress    io.Writer
	ProgressTTY bool
	// Transport overrides the HTTP transport (tests): all viewers share it.
	// Default: the client profile's (see newTransport), with 10 s dial and
	// header timeouts; over HTTP/2 one per H2Streams viewers.
	Transport http.RoundTripper
}

// Run opens cfg.Viewers viewers of cfg.URL and measures them. It returns an
// error when the config is invalid or no viewer could connect; otherwise
// failures are counted in the Result. Cancelling ctx ends the run early
// with the figures so far.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Viewers < 1 {
		return nil, errors.New("need at least one viewer")
	}
	if cfg.Duration <= 0 {
		return nil, errors.New("need a positive duration")
	}
	if cfg.Ramp < 0 || cfg.Warmup < 0 {
		return nil, errors.New("ramp and warmup must not be negative")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Second
	}
	if cfg.BufSize <= 0 {
		cfg.BufSize = 64 << 10
	}
	switch cfg.Parser {
	case "", ParserFast, ParserCore:
	default:
		return nil, fmt.Errorf("unknown parser %q (want %s or %s)", cfg.Parser, ParserFast, ParserCore)
	}
	if cfg.ReadSize < 0 {
		return nil, errors.New("read size must not be negative")
	}
	prof, err := resolveProfile(&cfg)
	if err != nil {
		return nil, err
	}
	cfg.Client, cfg.Parser = prof.name, prof.parser
	req, err := http.NewRequest(http.MethodGet, cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: want http or https", cfg.URL)
	}
	if cfg.H2 && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: HTTP/2 needs https", cfg.URL)
	}
	if cfg.H2Streams <= 0 {
		cfg.H2Streams = DefaultH2Streams
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	start := time.Now()
	l := &load{
		cfg:    cfg,
		prof:   prof,
		cancel: cancel,
		errs:   map[string]int{},
		dialer: &dialer{d: net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}},
	}
	l.wStart = start.Add(cfg.Ramp + cfg.Warmup)
	l.wEnd = l.wStart.Add(cfg.Duration)
	l.wStartUS, l.wEndUS = l.wStart.UnixMicro(), l.wEnd.UnixMicro()
	l.groups = l.newGroups()
	defer func() {
		for _, g := range l.groups {
			if g.tr != nil {
				g.tr.CloseIdleConnections()
			}
		}
	}()
	l.viewers = make([]*viewer, cfg.Viewers)
	for i := range l.viewers {
		g := l.groups[0]
		if len(l.groups) > 1 {
			g = l.groups[i/cfg.H2Streams]
		}
		l.viewers[i] = &viewer{l: l, g: g, first: len(l.groups) == 1 || i%cfg.H2Streams == 0}
	}
	ctx, stop := context.WithDeadline(ctx, l.wEnd.Add(cfg.Grace))
	defer stop()

	var wg sync.WaitGroup
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		l.progress(ctx, start)
	}()
	for i, v := range l.viewers {
		at := start.Add(time.Duration(int64(cfg.Ramp) * int64(i) / int64(cfg.Viewers)))
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.run(ctx)
		}()
	}
	wg.Wait()
	stopped := time.Now()
	interrupted := ctx.Err() != nil && stopped.Before(l.wEnd)
	cancel(nil)
	<-progressDone
	if l.everConnected.Load() == 0 {
		err := l.firstErr()
		if err == nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("no viewer could connect to %s: %w", cfg.URL, err)
	}
	if interrupted { // cut short: the window ends now
		if !stopped.After(l.wStart) {
			return nil, errors.New("stopped before the measured window began")
		}
		l.wEnd, l.wEndUS = stopped, stopped.UnixMicro()
	}
	return l.result(), nil
}

// newGroups returns the viewers' groups: one shared transport, or over
// HTTP/2 one per H2Streams viewers.
func (l *load) newGroups() []*group {
	cfg := l.cfg
	if cfg.Transport != nil {
		g := &group{client: &http.Client{Transport: cfg.Transport}, ready: make(chan struct{})}
		g.connected()
		return []*group{g}
	}
	if !cfg.H2 {
		g := newGroup(newTransport(l.prof, false, l.dialer))
		g.connected()
		return []*group{g}
	}
	gs := make([]*group, (cfg.Viewers+cfg.H2Streams-1)/cfg.H2Streams)
	for i := range gs {
		gs[i] = newGroup(newTransport(l.prof, true, l.dialer))
	}
	return gs
}

// load is the shared state of a run.
type load struct {
	cfg              Config
	prof             profile
	groups           []*group
	dialer           *dialer
	cancel           context.CancelCauseFunc
	viewers          []*viewer
	wStart, wEnd     time.Time // the window, monotonic
	wStartUS, wEndUS int64     // the window, Unix µs

	warm, lat     hist // latency before and during the window
	negative      atomic.Uint64
	frames        frameSet
	noTimestamp   atomic.Bool
	connected     atomic.Int64
	everConnected atomic.Int64

	mu     sync.Mutex
	errs   map[string]int
	first  error
	nerrs  int
	ndisc  int
	connAt [2]int // connected at window start and end
}

// record counts a failed request or a cut stream.
func (l *load) record(err error, disconnect bool) {
	msg := errorKind(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if disconnect {
		l.ndisc++
		msg = "disconnect: " + msg
	} else {
		l.nerrs++
		if l.first == nil {
			l.first = err
		}
	}
	if len(l.errs) < 20 || l.errs[msg] > 0 {
		l.errs[msg]++
	} else {
		l.errs["other"]++
	}
}

func (l *load) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// frameSet is the set of distinct frames (X-Timestamps) received in the
// window by any viewer, sharded to keep lock contention low.
type frameSet struct {
	shards [16]struct {
		sync.Mutex
		m map[int64]struct{}
		_ [40]byte
	}
}

func (s *frameSet) add(ts int64) {
	sh := &s.shards[uint64(ts)%uint64(len(s.shards))]
	sh.Lock()
	if sh.m == nil {
		sh.m = make(map[int64]struct{})
	}
	sh.m[ts] = struct{}{}
	sh.Unlock()
}

func (s *frameSet) len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].Lock()
		n += len(s.shards[i].m)
		s.shards[i].Unlock()
	}
	return n
}
