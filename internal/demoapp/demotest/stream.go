// Package demotest holds the tests that the framework adapters (ginmx,
// echomx) and the demo apps (examples/gin, examples/echo) share, so that
// each check is written once and run against each framework's real router.
//
// The building blocks read a stream part by part with arrival times
// ([Open]), check the response headers ([CheckHeaders]) and the demo's
// sequence and schedule ([CheckDemo]), and provide sources that make the
// properties under test observable without timing: [Stepper] (a part must
// arrive complete before the next is produced) and [Blocker] (a producer
// blocked between parts must return when the client leaves). [CheckApp],
// [CheckProcess], [CheckFirefox] and [CheckChromium] run the demo apps'
// contract (DESIGN.md section 4).
package demotest

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// Arrival is one item of a stream as a client read it: a part (or the error
// that ended the stream) and when it was read.
type Arrival struct {
	Part core.Part
	Err  error
	At   time.Time
}

// Stream reads the parts of a multipart/x-mixed-replace response in the
// background, stamping each with its arrival time as soon as its delimiter
// has been read.
type Stream struct {
	Resp *http.Response
	ch   chan Arrival
}

// Open checks resp's status and headers (CheckHeaders) and starts reading
// the parts of body, which is resp.Body or a decoder reading it. The
// response body is closed and the reader stopped when the test ends.
func Open(t testing.TB, resp *http.Response, body io.Reader) *Stream {
	t.Helper()
	t.Cleanup(func() { resp.Body.Close() })
	boundary := CheckHeaders(t, resp)
	s := &Stream{Resp: resp, ch: make(chan Arrival, 256)}
	go func() {
		defer close(s.ch)
		for p, err := range core.Read(body, boundary, nil) {
			s.ch <- Arrival{Part: p, Err: err, At: time.Now()}
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Close closes the response body and waits for the reader to stop.
func (s *Stream) Close() {
	s.Resp.Body.Close()
	for range s.ch {
	}
}

// Next returns the next part, or ok false after a clean end. It fails the
// test if the stream ends with an error or nothing comes within timeout.
func (s *Stream) Next(t testing.TB, timeout time.Duration) (a Arrival, ok bool) {
	t.Helper()
	a, ok, timedOut := s.next(timeout)
	if timedOut {
		t.Fatalf("no part and no end of the stream within %v", timeout)
	}
	if ok && a.Err != nil {
		t.Fatalf("stream ended with an error: %v", a.Err)
	}
	return a, ok
}

func (s *Stream) next(timeout time.Duration) (a Arrival, ok, timedOut bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case a, ok = <-s.ch:
		return a, ok, false
	case <-timer.C:
		return Arrival{}, false, true
	}
}

// End reads the rest of the stream and returns the error that ended it,
// or nil for a clean end. It fails the test if the stream does not end
// within timeout.
func (s *Stream) End(t testing.TB, timeout time.Duration) error {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case a, ok := <-s.ch:
			if !ok {
				return nil
			}
			if a.Err != nil {
				return a.Err
			}
		case <-timer.C:
			t.Fatalf("stream did not end within %v", timeout)
			return nil
		}
	}
}

// All returns the remaining parts once the stream has ended. It fails the
// test if the stream does not end cleanly within timeout.
func (s *Stream) All(t testing.TB, timeout time.Duration) []Arrival {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []Arrival
	for {
		a, ok := s.Next(t, time.Until(deadline))
		if !ok {
			return got
		}
		got = append(got, a)
	}
}

// Get sends a GET request for url with the given header fields (may be
// nil), bound to the test's context.
func Get(t testing.TB, c *http.Client, url string, h http.Header) *http.Response {
	t.Helper()
	return Do(t, c, t.Context(), http.MethodGet, url, h)
}

// Do sends a request without a body.
func Do(t testing.TB, c *http.Client, ctx context.Context, method, url string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

// CheckHeaders checks that resp is a 200 multipart/x-mixed-replace stream
// whose Content-Type has the boundary as its only, unquoted parameter, and
// that caches and proxies are told not to store or buffer it. It returns
// the boundary, and stops the test if there is none.
func CheckHeaders(t testing.TB, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Fatalf("status %s, want 200 OK; body %q", resp.Status, b)
	}
	ct := resp.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	b := params["boundary"]
	if err != nil || mt != core.MediaType || len(params) != 1 || b == "" {
		t.Fatalf("Content-Type %q, want %s with a boundary as its only parameter", ct, core.MediaType)
	}
	if want := core.MediaType + "; boundary=" + b; ct != want {
		t.Errorf("Content-Type %q, want %q", ct, want)
	}
	for k, want := range map[string]string{
		"Cache-Control":     "no-cache, no-store, must-revalidate",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	return b
}

// CheckPlain sends a request and checks that it is answered with code and
// exactly body as text/plain, not with a stream.
func CheckPlain(t testing.TB, c *http.Client, method, url string, code int, body string) *http.Response {
	t.Helper()
	resp := Do(t, c, t.Context(), method, url, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		t.Errorf("%s %s: reading body: %v", method, url, err)
	}
	if resp.StatusCode != code {
		t.Errorf("%s %s: status %s, want %d", method, url, resp.Status, code)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s %s: Content-Type %q, want text/plain", method, url, ct)
	}
	if method != http.MethodHead && string(b) != body {
		t.Errorf("%s %s: body %q, want %q", method, url, b, body)
	}
	return resp
}

// Serve starts h on a test server over HTTP/1.1, or over HTTP/2 with TLS,
// closed when the test ends, and returns it with a client for it.
func Serve(t testing.TB, h http.Handler, http2 bool) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if http2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, srv.Client()
}
