package echomx_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/echomx"
	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/internal/mxtest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // RequestLogger's output
	goleak.VerifyTestMain(m)
}

// usual is echo's usual middleware.
func usual() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{middleware.RequestLogger(), middleware.Recover()}
}

func router(mw ...echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.Logger.SetOutput(io.Discard)
	e.Use(mw...)
	return e
}

// TestAdapter runs the checks every adapter passes, through echo's router
// with its usual middleware.
func TestAdapter(t *testing.T) {
	mxtest.CheckAdapter(t, func(src core.Source, opts *core.Options) http.Handler {
		h := echomx.StreamWith(src, opts)
		e := router(usual()...)
		e.GET("/", h)
		e.HEAD("/", h)
		return e
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestGzip: behind echo's Gzip middleware the stream is compressed, and
// since the middleware flushes the compressor on every Flush, each part
// still arrives, complete, as soon as it is written. The first case reads
// the raw gzip stream (Accept-Encoding set by hand, a transport that does
// not decompress) and decompresses it with gzip.NewReader; the second lets
// net/http ask for gzip and decompress transparently.
func TestGzip(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  bool
	}{
		{"decompressed by the test", true},
		{"decompressed by net/http", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parts := mxtest.Parts(9)
			s := mxtest.NewStepper(parts)
			e := router(append(usual(), middleware.Gzip())...)
			e.GET("/", echomx.Stream(s.Source))
			srv, c := mxtest.Serve(t, e, false)
			var h []string
			if tc.raw {
				tr := c.Transport.(*http.Transport).Clone()
				tr.DisableCompression = true
				c = &http.Client{Transport: tr}
				t.Cleanup(tr.CloseIdleConnections)
				h = []string{"Accept-Encoding", "gzip"}
			}
			resp := mxtest.Get(t, c, srv.URL, h...)
			if tc.raw {
				if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
					t.Fatalf("Content-Encoding %q, want gzip", ce)
				}
			} else if !resp.Uncompressed {
				t.Fatal("net/http did not decompress the response")
			}
			if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary %q, want Accept-Encoding", v)
			}
			body := io.Reader(resp.Body)
			var wire *countingReader
			if tc.raw {
				wire = &countingReader{r: resp.Body}
				zr, err := gzip.NewReader(wire)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			s.Check(t, mxtest.Open(t, resp, body))
			if tc.raw {
				var raw int
				for _, p := range parts {
					raw += len(p.Body)
				}
				t.Logf("%d parts with %d body bytes: %d gzip bytes on the wire", len(parts), raw, wire.n.Load())
			}
		})
	}
}

// handled records what echo's HTTPErrorHandler is called with, then lets
// echo's default handler answer.
type handled struct {
	mu        sync.Mutex
	errs      []error
	committed []bool
}

func (h *handled) install(e *echo.Echo) {
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		h.mu.Lock()
		h.errs = append(h.errs, err)
		h.committed = append(h.committed, c.Response().Committed)
		h.mu.Unlock()
		e.DefaultHTTPErrorHandler(err, c)
	}
}

func (h *handled) get() ([]error, []bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.errs, h.committed
}

// TestPreStreamError: core.Serve answers a POST with 405 and its text as a
// plain body, and the adapter returns the *core.StatusError for echo's
// error handler to see, with the response already committed; the source is
// never called.
func TestPreStreamError(t *testing.T) {
	t.Parallel()
	called := false
	src := func(ctx context.Context) iter.Seq[core.Part] {
		called = true
		return demo.Source(ctx)
	}
	var h handled
	e := router(usual()...)
	h.install(e)
	e.POST("/", echomx.Stream(src))
	srv, c := mxtest.Serve(t, e, false)

	resp := mxtest.Do(t, c, t.Context(), http.MethodPost, srv.URL)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("status %s, want 405", resp.Status)
	}
	if want := "Method Not Allowed\n"; string(b) != want {
		t.Errorf("body %q, want %q", b, want)
	}
	if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q, want \"GET, HEAD\"", got)
	}
	errs, committed := h.get()
	if len(errs) == 0 {
		t.Fatal("error handler not called")
	}
	for _, err := range errs {
		var se *core.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusMethodNotAllowed {
			t.Errorf("error handler got %#v, want a *core.StatusError 405", err)
		}
	}
	for i, c := range committed {
		if !c {
			t.Errorf("error handler call %d: response not committed", i)
		}
	}
	if called {
		t.Error("source called")
	}
}

// TestErrorAfterStart: an error after the first byte (a panicking source)
// cuts the stream, so the client sees it was incomplete; it is returned to
// echo, whose error handler finds the response committed and leaves it.
func TestErrorAfterStart(t *testing.T) {
	t.Parallel()
	var h handled
	e := router(usual()...)
	h.install(e)
	e.GET("/", echomx.Stream(mxtest.PanicAfterFirst))
	srv, c := mxtest.Serve(t, e, false)
	resp := mxtest.Get(t, c, srv.URL)
	st := mxtest.Open(t, resp, resp.Body)
	if a, ok := st.Next(t, 10*time.Second); !ok || string(a.Part.Body) != "first" {
		t.Fatalf("first part %q (ok %v), want \"first\"", a.Part.Body, ok)
	}
	if err := st.End(t, 10*time.Second); err == nil {
		t.Error("stream ended cleanly, want a cut stream")
	}
	srv.Close() // the handler has returned
	errs, committed := h.get()
	if len(errs) == 0 {
		t.Fatal("error handler not called")
	}
	for i, err := range errs {
		var pe *core.PanicError
		if !errors.As(err, &pe) {
			t.Errorf("error handler got %v, want a *core.PanicError", err)
		}
		if !committed[i] {
			t.Error("response not committed when the error handler ran")
		}
	}
}
