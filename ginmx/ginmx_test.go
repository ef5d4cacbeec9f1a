package ginmx_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/ginmx"
	"github.com/mxreplace/mx/internal/demoapp/demotest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// usual is gin's usual middleware (gin.Default's), quiet.
func usual() []gin.HandlerFunc {
	return []gin.HandlerFunc{gin.LoggerWithWriter(io.Discard), gin.RecoveryWithWriter(io.Discard)}
}

func router(mw ...gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	r.Use(mw...)
	return r
}

// TestStreamPartByPart proves, with a source that produces a part only once
// the client has received the previous one, that every part reaches the
// client complete as soon as it is written: through gin's router, with and
// without gin's usual middleware, over HTTP/1.1 and HTTP/2.
func TestStreamPartByPart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mw    []gin.HandlerFunc
		http2 bool
	}{
		{"bare", nil, false},
		{"logger and recovery", usual(), false},
		{"http2", usual(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := demotest.NewStepper(demotest.Parts(9))
			r := router(tc.mw...)
			r.GET("/", ginmx.Stream(s.Source))
			srv, c := demotest.Serve(t, r, tc.http2)
			resp := demotest.Get(t, c, srv.URL, nil)
			if tc.http2 && resp.ProtoMajor != 2 {
				t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
			}
			s.Check(t, demotest.Open(t, resp, resp.Body))
		})
	}
}

// TestStreamDemo serves the real demo through gin's router with its usual
// middleware: the whole sequence arrives, in order, on schedule, each part
// before the next is produced.
func TestStreamDemo(t *testing.T) {
	t.Parallel()
	var timed demotest.Timed
	r := router(usual()...)
	r.GET("/", ginmx.Stream(timed.Wrap(demo.Source)))
	srv, c := demotest.Serve(t, r, false)
	resp := demotest.Get(t, c, srv.URL, nil)
	got := demotest.Open(t, resp, resp.Body).All(t, 30*time.Second)
	demotest.CheckDemo(t, got, timed.Yields())
}

// TestDisconnect: a client that leaves stops a producer that waits between
// parts at once.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	b := demotest.NewBlocker()
	r := router(usual()...)
	r.GET("/", ginmx.Stream(b.Source))
	srv, c := demotest.Serve(t, r, false)
	b.CheckDisconnect(t, c, srv.URL)
}

// errorsSeen records c.Errors and the status of every request, as a gin
// middleware sees them after the handler.
type errorsSeen struct {
	mu     sync.Mutex
	errs   []error
	status int
}

func (e *errorsSeen) middleware(c *gin.Context) {
	c.Next()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range c.Errors {
		e.errs = append(e.errs, err.Err)
	}
	e.status = c.Writer.Status()
}

func (e *errorsSeen) get() ([]error, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errs, e.status
}

// TestPreStreamError: core.Serve answers a POST with 405 and its text as a
// plain body; the adapter aborts the chain and puts the *core.StatusError
// in c.Errors; the source is never called.
func TestPreStreamError(t *testing.T) {
	t.Parallel()
	var seen errorsSeen
	called := false
	src := func(ctx context.Context) iter.Seq[core.Part] {
		called = true
		return demo.Source(ctx)
	}
	after := false
	r := router(append(usual(), seen.middleware)...)
	r.POST("/", ginmx.Stream(src), func(*gin.Context) { after = true })
	srv, c := demotest.Serve(t, r, false)

	resp := demotest.CheckPlain(t, c, http.MethodPost, srv.URL, http.StatusMethodNotAllowed, "Method Not Allowed\n")
	if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q, want \"GET, HEAD\"", got)
	}
	errs, status := seen.get()
	var se *core.StatusError
	if len(errs) != 1 || !errors.As(errs[0], &se) || se.Code != http.StatusMethodNotAllowed {
		t.Errorf("c.Errors %v, want one *core.StatusError 405", errs)
	}
	if status != http.StatusMethodNotAllowed {
		t.Errorf("c.Writer.Status() %d, want 405", status)
	}
	if called || after {
		t.Errorf("source called %v, next handler called %v; want neither", called, after)
	}
}

// TestErrorAfterStart: an error after the first byte (a panicking source)
// cuts the stream, so the client sees it was incomplete, and lands in
// c.Errors; gin's Recovery has nothing to do.
func TestErrorAfterStart(t *testing.T) {
	t.Parallel()
	var seen errorsSeen
	r := router(append(usual(), seen.middleware)...)
	r.GET("/", ginmx.Stream(demotest.PanicAfterFirst))
	srv, c := demotest.Serve(t, r, false)
	resp := demotest.Get(t, c, srv.URL, nil)
	st := demotest.Open(t, resp, resp.Body)
	if a, ok := st.Next(t, 10*time.Second); !ok || string(a.Part.Body) != "first" {
		t.Fatalf("first part %q (ok %v), want \"first\"", a.Part.Body, ok)
	}
	if err := st.End(t, 10*time.Second); err == nil {
		t.Error("stream ended cleanly, want a cut stream")
	}
	srv.Close() // the handler has returned
	errs, status := seen.get()
	var pe *core.PanicError
	if len(errs) != 1 || !errors.As(errs[0], &pe) {
		t.Errorf("c.Errors %v, want one *core.PanicError", errs)
	}
	if status != http.StatusOK {
		t.Errorf("status %d, want 200 (the stream had started)", status)
	}
}

// TestHead: a HEAD route gets the stream's headers and no parts.
func TestHead(t *testing.T) {
	t.Parallel()
	r := router()
	r.HEAD("/", ginmx.Stream(demo.Source))
	srv, c := demotest.Serve(t, r, false)
	resp := demotest.Do(t, c, t.Context(), http.MethodHead, srv.URL, nil)
	defer resp.Body.Close()
	demotest.CheckHeaders(t, resp)
}

// TestStreamWith: options reach core.Serve.
func TestStreamWith(t *testing.T) {
	t.Parallel()
	r := router()
	r.GET("/", ginmx.StreamWith(demotest.NewStepper(demotest.Parts(1)).Source, &core.Options{Boundary: "fixed-boundary"}))
	srv, c := demotest.Serve(t, r, false)
	resp := demotest.Get(t, c, srv.URL, nil)
	if b := demotest.CheckHeaders(t, resp); b != "fixed-boundary" {
		t.Errorf("boundary %q, want fixed-boundary", b)
	}
	if got := demotest.Open(t, resp, resp.Body).All(t, 10*time.Second); len(got) != 1 {
		t.Errorf("got %d parts, want 1", len(got))
	}
}

// TestStreamWithInvalidOptions: invalid options fail at registration.
func TestStreamWithInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts core.Options
	}{
		{"boundary with a space", core.Options{Boundary: "a b"}},
		{"boundary too long", core.Options{Boundary: strings.Repeat("b", 71)}},
		{"unknown mode", core.Options{Mode: core.Mode(42)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("StreamWith did not panic")
				}
			}()
			ginmx.StreamWith(demo.Source, &tc.opts)
		})
	}
}
