package core

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
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
	// WriteTimeout bounds the time one part (and the response headers) may
	// take to reach the client: a client that stops reading is dropped
	// after WriteTimeout to 1.5 x WriteTimeout. The deadline is moved
	// forward as parts go out, so a server-wide http.Server.WriteTimeout
	// does not cut a long stream. Default DefaultWriteTimeout (10 s);
	// negative means no deadline.
	WriteTimeout time.Duration
	// Mode is the wire layout. Default ModeAuto: chosen per request by
	// ModeFor.
	Mode Mode
	// Boundary fixes the boundary; it must pass Writer.SetBoundary. Default:
	// random per response (a Broadcaster's subscribers share the
	// broadcaster's random boundary, so that parts are framed once). A
	// Content-Type with a boundary set on the response before Serve wins.
	Boundary string
	// Chunked keeps HTTP/1.1's chunked transfer coding for every client. By
	// default an HTTP/1.1 stream is sent unchunked and its connection closed
	// at the end (as with HTTP/1.0): net/http's chunk framing costs two more
	// writes per part, and the stream's own close delimiter already marks a
	// clean end. ffmpeg and other libavformat clients (User-Agent "Lavf/")
	// always get chunked coding: their HTTP client reports the end of a body
	// of unknown length as an error.
	Chunked bool
	// Page decides what a browser's top-level visit gets: by default
	// (PageAuto) Chromium and WebKit get a small viewer page that shows
	// each part on time; everyone else gets the stream. A client whose
	// Accept names multipart/mixed gets the stream as multipart/mixed
	// whatever Page says. The query parameter ModeParam overrides it per
	// request (see ParamPage).
	Page PagePolicy
	// ErrorLog receives the errors Handler cannot answer with a status (a
	// panicking source, an invalid part). Default: the log package's
	// standard logger.
	ErrorLog *log.Logger
}

// Validate reports whether the options can be used: a Boundary that
// Writer.SetBoundary accepts and a known Mode. A nil *Options is valid.
// Handler panics on options that fail it and Serve answers 500; framework
// adapters call it when a route is registered.
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

// StatusError is an error Serve returns before writing anything: the caller
// should answer the request with Code (Handler does it with http.Error).
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
	return fmt.Sprintf("core: source panicked: %v\n%s", e.Value, e.Stack)
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
	if ua := r.UserAgent(); strings.Contains(ua, "AppleWebKit/") && !strings.Contains(ua, "Firefox/") {
		return ModeAdvance
	}
	return ModeLength
}

type boundaryHint struct{ boundary string }

type hintKey struct{}

// Serve streams the parts of src(ctx) to w as a multipart/x-mixed-replace
// response, where ctx is r's context.
//
// It sets Content-Type, "Cache-Control: no-cache, no-store,
// must-revalidate" and "X-Accel-Buffering: no" unless already set, writes
// each part with its delimiter, sets a write deadline (Options.WriteTimeout)
// and flushes. A HEAD request gets the headers and no parts. When the
// source ends, or ctx is done (the client left, or the server shuts down
// with EndOnShutdown), Serve stops pulling parts, ends the stream cleanly
// (Writer.Close) and returns once the source has returned. A client that
// leaves or stalls past the write deadline is normal: Serve returns nil.
//
// Before the first byte, Serve returns a *StatusError and writes nothing
// (the caller answers the request): 405 for methods other than GET and HEAD
// (with an Allow header), 500 for invalid options. After it, errors are
// returned for what the server must hear of: a source that panicked
// (*PanicError, the stream is cut), a part with an invalid header (the stream
// is cut), a ResponseWriter that cannot flush.
func Serve(w http.ResponseWriter, r *http.Request, src Source, opts *Options) (err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return &StatusError{Code: http.StatusInternalServerError, Err: err}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &StatusError{Code: http.StatusMethodNotAllowed, Err: fmt.Errorf("core: method %s", r.Method)}
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
	h := w.Header()
	var seq iter.Seq[Part]
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if r.Method == http.MethodGet {
		hint := &boundaryHint{}
		seq = src(context.WithValue(r.Context(), hintKey{}, hint))
		if hint.boundary != "" {
			mw.boundary = hint.boundary
		}
	}
	if o.Boundary != "" {
		mw.boundary = o.Boundary
	}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, params, perr := mime.ParseMediaType(ct)
		b := params["boundary"]
		if perr != nil || mt != MediaType || mw.SetBoundary(b) != nil {
			return &StatusError{Code: http.StatusInternalServerError,
				Err: fmt.Errorf("core: response Content-Type already set to %q, want %s with a valid boundary", ct, MediaType)}
		}
	} else {
		h.Set("Content-Type", mw.ContentType())
	}
	setDefault(h, "Cache-Control", "no-cache, no-store, must-revalidate")
	setDefault(h, "X-Accel-Buffering", "no")
	chunked := o.Chunked || strings.HasPrefix(r.UserAgent(), "Lavf/")
	if r.ProtoMajor == 1 && !chunked && h.Get("Transfer-Encoding") == "" {
		h.Set("Transfer-Encoding", "identity")
	}
	rc := http.NewResponseController(w)
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
			return fmt.Errorf("core: response writer cannot flush: %w", err)
		}
		return nil
	}
	if seq == nil { // HEAD
		return nil
	}
	ctx := r.Context()
	for p := range seq {
		if ctx.Err() != nil {
			break
		}
		deadline()
		if err := mw.WritePart(p); err != nil {
			if errors.Is(err, ErrInvalidHeader) {
				return err
			}
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
	deadline()
	if mw.Close() == nil {
		rc.Flush()
	}
	return nil
}

func setDefault(h http.Header, k, v string) {
	if h.Get(k) == "" {
		h.Set(k, v)
	}
}

// Handler returns an http.Handler that serves src with Serve. It panics if
// opts are invalid, so that a bad configuration fails at registration. A
// *StatusError is answered with http.Error; other errors go to
// Options.ErrorLog.
func Handler(src Source, opts *Options) http.Handler {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	var logger *log.Logger
	if opts != nil {
		logger = opts.ErrorLog
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := Serve(w, r, src, opts)
		var se *StatusError
		switch {
		case errors.As(err, &se):
			http.Error(w, http.StatusText(se.Code), se.Code)
		case err != nil && logger != nil:
			logger.Printf("mx: %s %s: %v", r.Method, r.URL.Path, err)
		case err != nil:
			log.Printf("mx: %s %s: %v", r.Method, r.URL.Path, err)
		}
	})
}

// EndOnShutdown makes srv.Shutdown end every open stream cleanly and at once.
// http.Server.Shutdown waits for active handlers but does not cancel their
// contexts; after EndOnShutdown, the request contexts of srv derive from one
// that Shutdown cancels, so each Serve writes its close delimiter and
// returns. Call it before srv starts serving.
func EndOnShutdown(srv *http.Server) {
	stop, cancel := context.WithCancel(context.Background())
	base := srv.BaseContext
	srv.BaseContext = func(l net.Listener) context.Context {
		parent := context.Background()
		if base != nil {
			parent = base(l)
		}
		ctx, cancelConn := context.WithCancel(parent)
		context.AfterFunc(stop, cancelConn)
		return ctx
	}
	srv.RegisterOnShutdown(cancel)
}
