package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestServePartByPart: each part reaches the client whole as soon as it is
// written, over HTTP/1.1 and HTTP/2.
func TestServePartByPart(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		const gap = 300 * time.Millisecond
		src := newTimedSource(6, gap)
		srv := newServer(t, core.Handler(src.Source, nil), p)
		resp := get(t, context.Background(), srv.Client(), srv.URL)
		if want := p.major(); resp.ProtoMajor != want {
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

// mixedSteps are text, PNG-typed and HTML parts with short pauses. The last
// part is marked Last.
func mixedSteps() []step {
	png := []byte("\x89PNG\r\n\x1a\n")
	for i := range 256 {
		png = append(png, byte(i))
	}
	s := []step{
		{core.Text("Hello,       text       "), 150 * time.Millisecond},
		{core.Text("       plain      world!"), 150 * time.Millisecond},
		{core.PNG(png), 300 * time.Millisecond},
		{core.HTML("<!doctype html><h1>Hello,</h1>"), 100 * time.Millisecond},
		{core.HTML("<!doctype html><h1>Hello, the <i>wonderful</i></h1>"), 100 * time.Millisecond},
		{core.HTML("<!doctype html><h1>Hello, the <i>wonderful</i> world of HTML!</h1>"), 0},
	}
	s[len(s)-1].part.Last = true
	return s
}

// TestServeTimedParts streams mixedSteps in real time, in the length mode.
// Each part arrives with its bytes and type, about when it is due. The wire
// holds exactly the parts, each framed once, and the close delimiter
// follows the last part at once.
func TestServeTimedParts(t *testing.T) {
	steps := mixedSteps()
	eachProto(t, func(t *testing.T, p proto) {
		srv := newServer(t, core.Handler(stepSource(steps).Source, nil), p)
		start := time.Now()
		resp := get(t, context.Background(), srv.Client(), srv.URL, "User-Agent", firefoxUA)
		if want := p.major(); resp.ProtoMajor != want {
			t.Fatalf("proto %s", resp.Proto)
		}
		var wire bytes.Buffer
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, &wire), resp.Body}
		i := 0
		var due time.Duration
		var lastAt time.Time
		for p, err := range core.ReadResponse(resp, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if i >= len(steps) {
				t.Fatalf("extra part %q", p.Body)
			}
			if !bytes.Equal(p.Body, steps[i].part.Body) || p.ContentType() != steps[i].part.ContentType() {
				t.Fatalf("part %d: %s %q", i, p.ContentType(), p.Body)
			}
			lastAt = time.Now()
			if el := lastAt.Sub(start); el < due-20*time.Millisecond || el > due+500*time.Millisecond {
				t.Errorf("part %d at %v, due at %v", i, el, due)
			}
			due += steps[i].pause
			i++
		}
		if i != len(steps) {
			t.Fatalf("%d parts, want %d", i, len(steps))
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("after the last part: %v", err)
		}
		if d := time.Since(lastAt); d > 500*time.Millisecond {
			t.Errorf("the stream ended %v after the last part", d)
		}
		_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		B := params["boundary"]
		want := "--" + B + "\r\n"
		for _, s := range steps {
			want += lengthFrame(s.part.ContentType(), s.part.Body, B)
		}
		want = strings.TrimSuffix(want, "\r\n") + "--\r\n"
		if wire.String() != want {
			t.Errorf("wire:\n got %q\nwant %q", abbrev(wire.Bytes()), abbrev([]byte(want)))
		}
	})
}

// TestServeHeaders: Serve sets the stream's headers unless the caller did,
// and a preset Content-Type gives the boundary. An HTTP/1.1 stream is
// unchunked and its connection closed, unless Options.Chunked.
func TestServeHeaders(t *testing.T) {
	srv := newServer(t, core.Handler(partsSource(core.Text("x")), nil), h1)
	resp := get(t, context.Background(), srv.Client(), srv.URL)
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
		core.Serve(w, r, partsSource(core.Text("x")), &core.Options{Chunked: true})
	})
	srv2 := newServer(t, pre, h1)
	resp = get(t, context.Background(), srv2.Client(), srv2.URL)
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Cache-Control") != "private" || !bytes.HasPrefix(body, []byte("--mine\r\n")) {
		t.Errorf("preset headers: %v, body %q", resp.Header, body)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Chunked option: Transfer-Encoding %v", resp.TransferEncoding)
	}
}

// TestServeMethods: HEAD gets the headers without a call to the source.
// Other methods than GET and HEAD get 405 with Allow.
func TestServeMethods(t *testing.T) {
	called := make(chan struct{}, 1)
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		called <- struct{}{}
		return func(yield func(core.Part) bool) { yield(core.Text("x")) }
	}, nil)
	srv := newServer(t, h, h1)
	c := srv.Client()

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

// TestServeOptionsValidated: Handler panics on invalid options.
func TestServeOptionsValidated(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler with a bad boundary did not panic")
		}
	}()
	core.Handler(nil, &core.Options{Boundary: "has space"})
}

// TestServeModes: the wire mode follows the User-Agent; the mx query
// parameter overrides it when it names a mode.
func TestServeModes(t *testing.T) {
	srv := newServer(t, core.Handler(partsSource(core.JPEG([]byte("jpg"))), &core.Options{Boundary: "B"}), h1)
	c := srv.Client()
	advance := "--B\r\nContent-Type: image/jpeg\r\n\r\njpg\r\n--B\r\nContent-Type: image/jpeg\r\n\r\njpg\r\n--B--\r\n"
	length := "--B\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\n\r\njpg\r\n--B\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\nMx-Final: repeat\r\n\r\njpg\r\n--B--\r\n"
	for _, tt := range []struct{ ua, query, want string }{
		{chromeUA, "", advance},
		{firefoxUA, "", length},
		{"curl/7.88.1", "", length},
		{"Lavf/59.27.100", "", length},
		{chromeUA, "?mx=length", length},
		{"curl/7.88.1", "?mx=advance", advance},
		{chromeUA, "?mx=bogus", advance},
	} {
		resp := get(t, context.Background(), c, srv.URL+tt.query, "User-Agent", tt.ua)
		body, _ := io.ReadAll(resp.Body)
		if string(body) != tt.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tt.ua, tt.query, body, tt.want)
		}
	}
}

// TestServeClientLeaves: when the client leaves, the source learns it from
// ctx at once and Serve returns nil.
func TestServeClientLeaves(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		// The producer waits an hour between parts: it must learn from
		// ctx that the client left.
		src := newTimedSource(3, time.Hour)
		served := make(chan error, 1)
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served <- core.Serve(w, r, src.Source, nil)
		}), p)
		ctx, cancel := context.WithCancel(context.Background())
		resp := get(t, ctx, srv.Client(), srv.URL)
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

// TestServeOutlivesServerWriteTimeout: a stream outlasts
// http.Server.WriteTimeout, because Serve moves the write deadline as parts
// go out.
func TestServeOutlivesServerWriteTimeout(t *testing.T) {
	src := newTimedSource(8, 100*time.Millisecond)
	srv := httptest.NewUnstartedServer(core.Handler(src.Source, nil))
	srv.Config.WriteTimeout = 250 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp := get(t, context.Background(), srv.Client(), srv.URL)
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
	srv := newServer(t, h, h1)
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

// TestServePanickingSource: a source that panics cuts its stream and is
// logged. The server goes on serving.
func TestServePanickingSource(t *testing.T) {
	var logged logBuffer
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			yield(core.Text("before"))
			panic("boom")
		}
	}, &core.Options{Logger: logged.logger()})
	srv := newServer(t, h, h1)
	c := srv.Client()
	for range 2 { // the server survives
		resp := get(t, context.Background(), c, srv.URL)
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
	if !strings.Contains(logged.String(), "source panicked: boom") {
		t.Errorf("log: %q", logged.String())
	}
}

// TestServeSkipsUnsafeParts: a part with an invalid header or a body that
// holds the delimiter is skipped and logged; the stream goes on and ends
// cleanly.
func TestServeSkipsUnsafeParts(t *testing.T) {
	var logged logBuffer
	const B = "fixedboundary"
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			bad := core.Text("evil")
			bad.Header.Set("X-Evil", "a\r\nb")
			forged := core.Text("x\r\n--" + B + "\r\nContent-Type: text/html\r\n\r\n<script>")
			_ = yield(core.Text("one")) && yield(bad) && yield(forged) && yield(core.Text("two"))
		}
	}, &core.Options{Boundary: B, Mode: core.ModeLength, Logger: logged.logger()})
	srv := newServer(t, h, h1)
	resp := get(t, context.Background(), srv.Client(), srv.URL)
	raw, _ := io.ReadAll(resp.Body)
	want := "--" + B + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\none\r\n--" + B + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\ntwo\r\n--" + B + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nMx-Final: repeat\r\n\r\ntwo\r\n--" + B + "--\r\n"
	if string(raw) != want {
		t.Errorf("body\n%q\nwant\n%q", raw, want)
	}
	if !strings.Contains(logged.String(), "invalid part header") || !strings.Contains(logged.String(), "count=2") {
		t.Errorf("log: %q", logged.String())
	}
}

// TestEndOnShutdown: srv.Shutdown ends open streams cleanly and at once.
func TestEndOnShutdown(t *testing.T) {
	src := newTimedSource(100, time.Hour)
	srv := httptest.NewUnstartedServer(core.Handler(src.Source, nil))
	core.EndOnShutdown(srv.Config)
	srv.Start()
	defer srv.Close()
	resp := get(t, context.Background(), srv.Client(), srv.URL)
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

// TestServeNotFlushable: Serve refuses a ResponseWriter that cannot flush
// (http.ErrNotSupported) without pulling the source.
func TestServeNotFlushable(t *testing.T) {
	rec := struct{ http.ResponseWriter }{httptest.NewRecorder()}
	var log logBuffer
	err := core.Serve(rec, httptest.NewRequest("GET", "/", nil), func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) { t.Error("source pulled") }
	}, &core.Options{Logger: log.logger()})
	if !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Serve = %v", err)
	}
	if !strings.Contains(log.String(), "cannot flush") {
		t.Errorf("log %q", log.String())
	}
}
