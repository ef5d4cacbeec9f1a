package mxtest

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mxreplace/mx/core"
)

// Client returns an HTTP client without keep-alive. So no idle
// connection outlives a test, and goleak stays quiet.
func Client(t testing.TB) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Serve starts h on a test server, closed when the test ends. It serves
// HTTP/1.1, or HTTP/2 over TLS when http2 is true. It returns the server
// and a client for it.
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

// Get sends a GET for url, bound to the test's context. kv holds header
// fields as pairs: "Name", "value", ... The body is closed when the test
// ends.
func Get(t testing.TB, c *http.Client, url string, kv ...string) *http.Response {
	t.Helper()
	return Do(t, c, t.Context(), http.MethodGet, url, kv...)
}

// Do sends a request without a body, with header fields kv as in Get. It
// fails the test if the request fails. The body is closed when the test
// ends.
func Do(t testing.TB, c *http.Client, ctx context.Context, method, url string, kv ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// ReadAll reads the body of a response that must end, not a stream. It
// fails the test on an error.
func ReadAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return b
}

// CheckPlain sends a request and checks its answer: code, text/plain, and
// exactly body (HEAD: no body). It returns the response.
func CheckPlain(t testing.TB, c *http.Client, method, url string, code int, body string) *http.Response {
	t.Helper()
	resp := Do(t, c, t.Context(), method, url)
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

// CheckHeaders checks that resp is a 200 multipart/x-mixed-replace
// stream. Its Content-Type has the boundary as its only, unquoted
// parameter. Caches and proxies are told not to store or buffer it. It
// returns the boundary, and stops the test if there is none.
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
