package core

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Source produces the parts of one response. It is called once per request
// with the request's context; the sequence must stop when that context is
// done (a producer waiting between parts should select on ctx.Done()) or when
// yield returns false.
type Source = func(ctx context.Context) iter.Seq[Part]

// DefaultWriteTimeout is the default of [Options.WriteTimeout].
const DefaultWriteTimeout = 10 * time.Second

// ModeParam is the query parameter that overrides the wire mode of one
// request: ?mx=length or ?mx=advance (see [ModeFor]).
const ModeParam = "mx"

// Options configures [Serve] and [Handler]. A nil *Options means the
// defaults.
type Options struct {
	// WriteTimeout bounds the time one part may take to reach the client.
	// A client that stops reading is dropped after 1 to 1.5 times it. The
	// deadline moves forward as parts go out, so a server-wide
	// http.Server.WriteTimeout does not cut a long stream. Default
	// DefaultWriteTimeout (10 s); negative means no deadline.
	WriteTimeout time.Duration
	// Mode is the wire layout. Default ModeAuto: chosen per request by
	// ModeFor.
	Mode Mode
	// Boundary fixes the boundary; it must pass Writer.SetBoundary. A
	// Content-Type with a boundary set on the response before Serve wins.
	// Default: one random boundary per process (32 hex digits from
	// crypto/rand), which a Broadcaster frames its parts for.
	Boundary string
	// Chunked keeps chunked transfer coding on HTTP/1.1 for every client.
	// By default an HTTP/1.1 stream is sent unchunked, and its connection
	// is closed at the end: chunk framing costs two more writes per part.
	// libavformat clients (ffmpeg, User-Agent "Lavf/") always get chunked
	// coding, since they report an unframed end as an error.
	Chunked bool
	// Page decides what a browser's top-level visit gets: by default
	// (PageAuto) Chromium and WebKit get a small viewer page that shows
	// each part on time; everyone else gets the stream. A client whose
	// Accept names multipart/mixed gets the stream as multipart/mixed
	// whatever Page says. The query parameter ModeParam overrides it per
	// request (see ParamPage). A route of images only (MJPEG) may set
	// PageOff: Chromium and WebKit show it natively as an image.
	Page PagePolicy
	// Logger receives what Serve cannot answer with a status: a source
	// that panicked, a part that was skipped. Default: slog.Default().
	Logger *slog.Logger
}

// Validate reports whether the options can be used: a Boundary that
// Writer.SetBoundary accepts and a known Mode. A nil *Options is valid.
// Handler and the framework adapters panic on options that fail it, at
// registration; Serve answers 500.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	if o.Boundary != "" {
		if err := checkBoundary(o.Boundary); err != nil {
			return err
		}
	}
	if o.Mode < ModeAuto || o.Mode > ModeAdvance {
		return fmt.Errorf("core: unknown mode %d", int(o.Mode))
	}
	return nil
}

// StatusError is an error Serve met before the stream started. Serve has
// answered the request with Code already.
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %v", e.Code, http.StatusText(e.Code), e.Err)
}
func (e *StatusError) Unwrap() error { return e.Err }

// PanicError is returned by Serve when the source panicked. The stream is
// cut, not ended cleanly, so readers see it was incomplete.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("core: source panicked: %v", e.Value)
}

// ModeFor returns the wire mode for a request: the query parameter ModeParam
// when it names a mode ("length" or "advance"), else ModeAdvance for WebKit
// and Blink browsers (a User-Agent with "AppleWebKit/": Chrome, Chromium,
// Edge, Opera, Safari, every iOS browser) and ModeLength for everyone else
// (Firefox, ffmpeg, VLC, curl, Go and camera clients).
func ModeFor(r *http.Request) Mode {
	if v := r.URL.Query().Get(ModeParam); v != "" {
		if m, err := ParseMode(v); err == nil && m != ModeAuto {
			return m
		}
	}
	if blinkOrWebKit(r.UserAgent()) {
		return ModeAdvance
	}
	return ModeLength
}

// streamBoundary returns the process's default boundary.
var streamBoundary = sync.OnceValue(randomBoundary)

// Serve streams the parts of src(ctx) to w as a multipart/x-mixed-replace
// response. ctx is r's context.
//
// It sets Content-Type, "Cache-Control: no-cache, no-store,
// must-revalidate" and "X-Accel-Buffering: no" unless already set. It
// writes each part with its delimiter, keeps a write deadline
// (Options.WriteTimeout) and flushes. A HEAD request gets the headers only.
//
// The stream ends cleanly in three ways. After a part marked [Part.Last],
// the close delimiter follows it at once. When the source returns, or ctx is
// done, [Writer.Close] ends it. Serve returns once the source has returned.
// A client that leaves or stalls past the write deadline is normal: Serve
// returns nil.
//
// Serve answers its own errors before the stream starts, and returns them
// as a *StatusError: 405 with an Allow header for methods other than GET and
// HEAD, 500 for invalid options. After it starts, Serve skips a part it
// cannot write safely ([ErrInvalidHeader], [ErrDelimiter]) and goes on; a
// source that panics cuts the stream (*PanicError). These are logged to
// Options.Logger and the first is returned.
func Serve(w http.ResponseWriter, r *http.Request, src Source, opts *Options) (err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := o.Validate(); err != nil {
		return fail(w, http.StatusInternalServerError, err)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return fail(w, http.StatusMethodNotAllowed, fmt.Errorf("core: method %s", r.Method))
	}
	w, done := negotiate(w, r, &o)
	if done {
		return nil
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	mode := o.Mode
	if mode == ModeAuto {
		mode = ModeFor(r)
	}
	mw := NewWriter(w)
	mw.SetMode(mode)
	mw.boundary = streamBoundary()
	if o.Boundary != "" {
		mw.boundary = o.Boundary
	}
	h := w.Header()
	if ct := h.Get("Content-Type"); ct != "" {
		mt, params, perr := mime.ParseMediaType(ct)
		b := params["boundary"]
		if perr != nil || mt != MediaType || mw.SetBoundary(b) != nil {
			h.Del("Content-Type")
			return fail(w, http.StatusInternalServerError,
				fmt.Errorf("core: response Content-Type already set to %q, want %s with a valid boundary", ct, MediaType))
		}
	} else {
		h.Set("Content-Type", mw.ContentType())
	}
	setDefault(h, "Cache-Control", "no-cache, no-store, must-revalidate")
	setDefault(h, "X-Accel-Buffering", "no")
	chunked := o.Chunked || strings.HasPrefix(r.UserAgent(), "Lavf/")
	var direct net.Conn // set when the parts can go straight to the connection
	if r.ProtoMajor == 1 && !chunked && h.Get("Transfer-Encoding") == "" {
		h.Set("Transfer-Encoding", "identity")
		direct = directConn(w, r)
	}
	rc := http.NewResponseController(w)
	flush := rc.Flush
	// Moving a connection's write deadline updates a runtime timer: done
	// for every part, it cost 8-10% of the server's CPU with 1,000 viewers.
	// So the deadline moves only when less than WriteTimeout is left, to
	// 1.5 x WriteTimeout from now: every write still gets at least
	// WriteTimeout, and the deadline moves about once per WriteTimeout/2.
	var until time.Time
	deadline := func() {
		if o.WriteTimeout < 0 {
			if until.IsZero() {
				until = time.Unix(1, 0) // cleared once
				rc.SetWriteDeadline(time.Time{})
			}
			return
		}
		now := time.Now()
		if until.Sub(now) >= o.WriteTimeout {
			return
		}
		until = now.Add(o.WriteTimeout + o.WriteTimeout/2)
		rc.SetWriteDeadline(until)
	}
	deadline()
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			err = fmt.Errorf("core: response writer cannot flush: %w", err)
			log.Error("mx: stream not served", "method", r.Method, "path", r.URL.Path, "err", err)
			return err
		}
		return nil
	}
	if r.Method == http.MethodHead {
		return nil
	}
	if direct != nil {
		// net/http's buffers are empty after the flush, and with an
		// unchunked body it adds nothing of its own after the headers.
		mw.w = direct
		flush = noFlush
	}
	ctx, stop := streamContext(r.Context())
	defer stop()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			log.Error("mx: source panicked; stream cut", "method", r.Method, "path", r.URL.Path, "err", pe, "stack", string(pe.Stack))
			err = pe
		}
	}()
	skipped := 0
	for p := range src(ctx) {
		if ctx.Err() != nil {
			break
		}
		deadline()
		if werr := mw.WritePart(p); werr != nil {
			if !errors.Is(werr, ErrInvalidHeader) && !errors.Is(werr, ErrDelimiter) {
				return nil // the client left or stalled
			}
			if skipped == 0 {
				err = werr
				log.Error("mx: part skipped", "method", r.Method, "path", r.URL.Path, "err", werr)
			}
			skipped++
			continue
		}
		if flush() != nil {
			return nil
		}
		if p.Last {
			break
		}
	}
	if skipped > 1 {
		log.Error("mx: parts skipped", "method", r.Method, "path", r.URL.Path, "count", skipped)
	}
	deadline()
	if mw.Close() == nil {
		flush()
	}
	return err
}

func noFlush() error { return nil }

// directConn returns the connection under w when DirectWrites recorded it
// and w is net/http's own HTTP/1.1 response writer: then nothing between
// Serve and the connection changes the bytes. A middleware's wrapper may
// count, compress or buffer the body, so it keeps every write.
func directConn(w http.ResponseWriter, r *http.Request) net.Conn {
	c, ok := r.Context().Value(connKey{}).(net.Conn)
	if !ok {
		return nil
	}
	if t := reflect.TypeOf(w); t.Kind() != reflect.Pointer || t.Elem().PkgPath() != "net/http" || t.Elem().Name() != "response" {
		return nil
	}
	return c
}

// fail answers the request with code and returns err as a *StatusError.
func fail(w http.ResponseWriter, code int, err error) error {
	http.Error(w, http.StatusText(code), code)
	return &StatusError{Code: code, Err: err}
}

func setDefault(h http.Header, k, v string) {
	if h.Get(k) == "" {
		h.Set(k, v)
	}
}

// Handler returns an http.Handler that serves src with Serve. It panics if
// opts are invalid, so that a bad configuration fails at registration.
func Handler(src Source, opts *Options) http.Handler {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, src, opts)
	})
}
