package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// newServer starts h over HTTP/1.1 or HTTP/2 (TLS) and returns its URL and a
// client for it.
func newServer(t *testing.T, h http.Handler, http2 bool) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if http2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, srv.Client()
}

func get(t *testing.T, c *http.Client, ctx context.Context, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// timedSource yields n text parts gap apart and records when each was
// handed over and when the producer returned.
type timedSource struct {
	n    int
	gap  time.Duration
	mu   sync.Mutex
	sent []time.Time
	done chan struct{}
}

func newTimedSource(n int, gap time.Duration) *timedSource {
	return &timedSource{n: n, gap: gap, done: make(chan struct{})}
}

func (s *timedSource) Source(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		defer close(s.done)
		for i := range s.n {
			if i > 0 {
				select {
				case <-time.After(s.gap):
				case <-ctx.Done():
					return
				}
			}
			s.mu.Lock()
			s.sent = append(s.sent, time.Now())
			s.mu.Unlock()
			if !yield(core.Text(fmt.Sprint("part ", i))) {
				return
			}
		}
	}
}

func TestServePartByPart(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			t.Parallel()
			const gap = 300 * time.Millisecond
			src := newTimedSource(6, gap)
			srv, c := newServer(t, core.Handler(src.Source, nil), h2)
			resp := get(t, c, context.Background(), srv.URL)
			if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
				t.Fatalf("proto %s", resp.Proto)
			}
			var arrived []time.Time
			for p, err := range core.ReadResponse(resp, nil) {
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprint("part ", len(arrived)); string(p.Body) != want {
					t.Fatalf("part %q, want %q", p.Body, want)
				}
				arrived = append(arrived, time.Now())
			}
			if len(arrived) != 6 {
				t.Fatalf("%d parts", len(arrived))
			}
			// Each part is complete (its delimiter received) right after it
			// was written, long before the next one is written.
			var worst time.Duration
			for i, at := range arrived {
				lag := at.Sub(src.sent[i])
				worst = max(worst, lag)
				if lag > gap/2 {
					t.Errorf("part %d complete %v after it was written", i, lag)
				}
			}
			t.Logf("parts complete at most %v after they were written", worst)
		})
	}
}

func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes 6 s")
	}
	steps := demo.Steps()
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			t.Parallel()
			srv, c := newServer(t, core.Handler(demo.Source, nil), h2)
			start := time.Now()
			resp := get(t, c, context.Background(), srv.URL, "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
			i := 0
			var due time.Duration
			for p, err := range core.ReadResponse(resp, nil) {
				if err != nil {
					t.Fatal(err)
				}
				if i >= len(steps) {
					t.Fatalf("extra part %q", p.Body)
				}
				if !bytes.Equal(p.Body, steps[i].Part.Body) || p.ContentType() != steps[i].Part.ContentType() {
					t.Fatalf("part %d: %s %q", i, p.ContentType(), p.Body)
				}
				if el := time.Since(start); el < due-20*time.Millisecond || el > due+500*time.Millisecond {
					t.Errorf("part %d at %v, due at %v", i, el, due)
				}
				due += steps[i].Pause
				i++
			}
			if i != len(steps) {
				t.Fatalf("%d parts, want %d", i, len(steps))
			}
		})
	}
}

func TestServeHeaders(t *testing.T) {
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) { yield(core.Text("x")) }
	}, nil)
	srv, c := newServer(t, h, false)
	resp := get(t, c, context.Background(), srv.URL)
	io.ReadAll(resp.Body)
	for k, want := range map[string]string{
		"Cache-Control":     "no-cache, no-store, must-revalidate",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "multipart/x-mixed-replace; boundary=") || strings.ContainsAny(ct, `"`) || strings.Count(ct, ";") != 1 {
		t.Errorf("Content-Type %q", ct)
	}
	if len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Errorf("HTTP/1.1 stream: Transfer-Encoding %v, Close %v; want unchunked and closed", resp.TransferEncoding, resp.Close)
	}

	// Values the caller set are kept; a preset Content-Type gives the boundary.
	pre := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private")
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=mine")
		core.Serve(w, r, func(ctx context.Context) iter.Seq[core.Part] {
			return func(yield func(core.Part) bool) { yield(core.Text("x")) }
		}, &core.Options{Chunked: true})
	})
	srv2, c2 := newServer(t, pre, false)
	resp = get(t, c2, context.Background(), srv2.URL)
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Cache-Control") != "private" || !bytes.HasPrefix(body, []byte("--mine\r\n")) {
		t.Errorf("preset headers: %v, body %q", resp.Header, body)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Chunked option: Transfer-Encoding %v", resp.TransferEncoding)
	}
}

func TestServeMethods(t *testing.T) {
	called := make(chan struct{}, 1)
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		called <- struct{}{}
		return func(yield func(core.Part) bool) { yield(core.Text("x")) }
	}, nil)
	srv, c := newServer(t, h, false)

	req, _ := http.NewRequest(http.MethodHead, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), core.MediaType) || len(body) != 0 {
		t.Errorf("HEAD: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	select {
	case <-called:
		t.Error("HEAD called the source")
	default:
	}

	resp, err = c.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || !strings.HasPrefix(string(body), "Method Not Allowed") {
		t.Errorf("POST: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

func TestServeOptionsValidated(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler with a bad boundary did not panic")
		}
	}()
	core.Handler(nil, &core.Options{Boundary: "has space"})
}

func TestServeModes(t *testing.T) {
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) { yield(core.JPEG([]byte("jpg"))) }
	}, &core.Options{Boundary: "B"})
	srv, c := newServer(t, h, false)
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	advance := "--B\r\nContent-Type: image/jpeg\r\n\r\njpg\r\n--B\r\nContent-Type: image/jpeg\r\n\r\njpg\r\n--B--\r\n"
	length := "--B\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\n\r\njpg\r\n--B\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\nMx-Final: repeat\r\n\r\njpg\r\n--B--\r\n"
	for _, tt := range []struct{ ua, query, want string }{
		{chrome, "", advance},
		{firefox, "", length},
		{"curl/7.88.1", "", length},
		{"Lavf/59.27.100", "", length},
		{chrome, "?mx=length", length},
		{"curl/7.88.1", "?mx=advance", advance},
		{chrome, "?mx=bogus", advance},
	} {
		resp := get(t, c, context.Background(), srv.URL+tt.query, "User-Agent", tt.ua)
		body, _ := io.ReadAll(resp.Body)
		if string(body) != tt.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tt.ua, tt.query, body, tt.want)
		}
	}
}

func TestServeClientLeaves(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			t.Parallel()
			// The producer waits an hour between parts: it must learn from
			// ctx that the client left.
			src := newTimedSource(3, time.Hour)
			served := make(chan error, 1)
			srv, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served <- core.Serve(w, r, src.Source, nil)
			}), h2)
			ctx, cancel := context.WithCancel(context.Background())
			resp := get(t, c, ctx, srv.URL)
			for _, err := range core.ReadResponse(resp, nil) {
				if err != nil {
					t.Fatal(err)
				}
				break // the first part arrived
			}
			left := time.Now()
			cancel()
			select {
			case <-src.done:
			case <-time.After(5 * time.Second):
				t.Fatal("producer still running 5 s after the client left")
			}
			if err := <-served; err != nil {
				t.Errorf("Serve = %v, want nil for a client that left", err)
			}
			t.Logf("producer returned %v after the client left", time.Since(left))
		})
	}
}

func TestServeOutlivesServerWriteTimeout(t *testing.T) {
	src := newTimedSource(8, 100*time.Millisecond)
	srv := httptest.NewUnstartedServer(core.Handler(src.Source, nil))
	srv.Config.WriteTimeout = 250 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp := get(t, srv.Client(), context.Background(), srv.URL)
	n := 0
	for _, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			t.Fatalf("after %d parts: %v", n, err)
		}
		n++
	}
	if n != 8 {
		t.Fatalf("%d parts, want 8", n)
	}
}

// TestServeDropsStalledClient: a client that sends a request and never
// reads is dropped after the write deadline, and the producer returns.
func TestServeDropsStalledClient(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1<<20)
	done := make(chan struct{})
	served := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- core.Serve(w, r, func(ctx context.Context) iter.Seq[core.Part] {
			return func(yield func(core.Part) bool) {
				defer close(done)
				for yield(core.JPEG(big)) {
				}
			}
		}, &core.Options{WriteTimeout: 300 * time.Millisecond})
	})
	srv, _ := newServer(t, h, false)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stalled client not dropped within 10 s")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestServePanickingSource(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			yield(core.Text("before"))
			panic("boom")
		}
	}, &core.Options{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))})
	srv, c := newServer(t, h, false)
	for range 2 { // the server survives
		resp := get(t, c, context.Background(), srv.URL)
		var parts int
		var err error
		for _, e := range core.ReadResponse(resp, nil) {
			if e != nil {
				err = e
				break
			}
			parts++
		}
		if parts != 1 || err == nil {
			t.Fatalf("parts %d, err %v: want the first part and then a cut stream", parts, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "source panicked: boom") {
		t.Errorf("log: %q", logged.String())
	}
}

// TestServeSkipsUnsafeParts: a part with an invalid header or a body that
// holds the delimiter is skipped and logged; the stream goes on and ends
// cleanly.
func TestServeSkipsUnsafeParts(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	const B = "fixedboundary"
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			bad := core.Text("evil")
			bad.Header.Set("X-Evil", "a\r\nb")
			forged := core.Text("x\r\n--" + B + "\r\nContent-Type: text/html\r\n\r\n<script>")
			_ = yield(core.Text("one")) && yield(bad) && yield(forged) && yield(core.Text("two"))
		}
	}, &core.Options{Boundary: B, Mode: core.ModeLength, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))})
	srv, c := newServer(t, h, false)
	resp := get(t, c, context.Background(), srv.URL)
	raw, _ := io.ReadAll(resp.Body)
	want := "--" + B + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\none\r\n--" + B + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\ntwo\r\n--" + B + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nMx-Final: repeat\r\n\r\ntwo\r\n--" + B + "--\r\n"
	if string(raw) != want {
		t.Errorf("body\n%q\nwant\n%q", raw, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "invalid part header") || !strings.Contains(logged.String(), "count=2") {
		t.Errorf("log: %q", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestEndOnShutdown: srv.Shutdown ends open streams cleanly and at once.
func TestEndOnShutdown(t *testing.T) {
	src := newTimedSource(100, time.Hour)
	srv := httptest.NewUnstartedServer(core.Handler(src.Source, nil))
	core.EndOnShutdown(srv.Config)
	srv.Start()
	defer srv.Close()
	resp := get(t, srv.Client(), context.Background(), srv.URL)
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil { // the stream is open
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	_, params, _ := strings.Cut(resp.Header.Get("Content-Type"), "boundary=")
	n := 0
	for p, err := range core.Read(br, params, nil) {
		if err != nil {
			t.Fatalf("stream not ended cleanly: %v", err)
		}
		if string(p.Body) != "part 0" {
			t.Fatalf("part %q", p.Body)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d parts", n)
	}
}

func TestServeNotFlushable(t *testing.T) {
	rec := struct{ http.ResponseWriter }{httptest.NewRecorder()}
	err := core.Serve(rec, httptest.NewRequest("GET", "/", nil), func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) { t.Error("source pulled") }
	}, nil)
	if !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Serve = %v", err)
	}
}
