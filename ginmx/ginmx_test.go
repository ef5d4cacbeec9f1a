package ginmx_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/ginmx"
	"github.com/mxreplace/mx/internal/mxtest"
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

// TestAdapter runs the checks every adapter passes, through gin's router
// with its usual middleware.
func TestAdapter(t *testing.T) {
	mxtest.CheckAdapter(t, func(src core.Source, opts *core.Options) http.Handler {
		h := ginmx.StreamWith(src, opts)
		r := router(usual()...)
		r.GET("/", h)
		r.HEAD("/", h)
		return r
	})
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
	srv, c := mxtest.Serve(t, r, false)

	resp := mxtest.CheckPlain(t, c, http.MethodPost, srv.URL, http.StatusMethodNotAllowed, "Method Not Allowed\n")
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
	r.GET("/", ginmx.Stream(mxtest.PanicAfterFirst))
	srv, c := mxtest.Serve(t, r, false)
	resp := mxtest.Get(t, c, srv.URL)
	st := mxtest.Open(t, resp, resp.Body)
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
