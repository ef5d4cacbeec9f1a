package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestWriterLast: the close delimiter follows a part marked Last at once,
// in both modes, and nothing is written after it.
func TestWriterLast(t *testing.T) {
	const B = "B"
	for _, tc := range []struct {
		mode core.Mode
		want string
	}{
		{core.ModeLength, "--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\none\r\n--B\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\ntwo\r\n--B--\r\n"},
		{core.ModeAdvance, "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\none\r\n--B\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\ntwo\r\n--B--\r\n"},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			var buf bytes.Buffer
			w := core.NewWriter(&buf)
			w.SetBoundary(B)
			w.SetMode(tc.mode)
			if err := w.WritePart(core.Text("one")); err != nil {
				t.Fatal(err)
			}
			if err := w.WritePart(lastPart(core.Text("two"))); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.WritePart(core.Text("three")); !errors.Is(err, core.ErrClosed) {
				t.Errorf("WritePart after a Last part = %v, want ErrClosed", err)
			}
			if buf.String() != tc.want {
				t.Errorf("wire\n%q\nwant\n%q", buf.String(), tc.want)
			}
			// Go's mime/multipart reads exactly the two parts, then io.EOF.
			if n, err := countMultipart(&buf, B); n != 2 || err != nil {
				t.Errorf("mime/multipart: %d parts, %v; want 2, nil", n, err)
			}
		})
	}
}

// TestServeLastPart: after a part marked Last, Serve ends the response with
// the close delimiter at once and stops the source.
func TestServeLastPart(t *testing.T) {
	stopped := make(chan bool, 1)
	h := core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			ok := yield(core.Text("one")) && yield(core.Text("two")) && yield(lastPart(core.Text("three")))
			ok = ok && yield(core.Text("after"))
			stopped <- !ok
		}
	}, &core.Options{Boundary: "B"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(raw, []byte("\r\n\r\nthree\r\n--B--\r\n")) || bytes.Contains(raw, []byte("after")) || bytes.Contains(raw, []byte(core.FinalHeader)) {
		t.Errorf("wire ends %q, want the last part and the close delimiter", raw[max(0, len(raw)-80):])
	}
	if n, err := countMultipart(bytes.NewReader(raw), "B"); n != 3 || err != nil {
		t.Errorf("mime/multipart: %d parts, %v; want 3, nil", n, err)
	}
	if !<-stopped {
		t.Error("yield returned true after the Last part")
	}
}

// TestPublishLast: a part published with Last set is every viewer's last;
// the Broadcaster then refuses parts.
func TestPublishLast(t *testing.T) {
	var cam core.Broadcaster
	srv := httptest.NewServer(core.Handler(cam.Subscribe, nil))
	defer srv.Close()
	cam.Publish(core.JPEG([]byte("first")))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parts := make(chan string)
	go func() {
		defer close(parts)
		for p, err := range core.ReadResponse(resp, nil) {
			if err != nil {
				parts <- "error: " + err.Error()
				return
			}
			parts <- string(p.Body)
		}
	}()
	if got := <-parts; got != "first" {
		t.Fatalf("first part %q", got)
	}
	if err := cam.Publish(lastPart(core.JPEG([]byte("final")))); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for p := range parts {
		rest = append(rest, p)
	}
	if len(rest) != 1 || rest[0] != "final" {
		t.Errorf("after the Last part: %q, want [final] and a clean end", rest)
	}
	if err := cam.Publish(core.JPEG([]byte("late"))); !errors.Is(err, core.ErrShutdown) {
		t.Errorf("Publish after a Last part = %v, want ErrShutdown", err)
	}
	if err := cam.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestSourceChangesPart: a Source that wraps Subscribe and changes a part
// sends the changed part, not the broadcaster's framing of the original.
func TestSourceChangesPart(t *testing.T) {
	var cam core.Broadcaster
	defer cam.Shutdown(context.Background())
	watermark := func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			for p := range cam.Subscribe(ctx) {
				if string(p.Body) == "body" {
					p.Body = []byte("WATERMARKED")
				} else {
					h := make(textproto.MIMEHeader)
					for k, v := range p.Header {
						h[k] = v
					}
					h.Set("X-Mark", "yes")
					p.Header = h
				}
				if !yield(p) {
					return
				}
			}
		}
	}
	srv := httptest.NewServer(core.Handler(watermark, &core.Options{Mode: core.ModeLength}))
	defer srv.Close()
	cam.Publish(core.JPEG([]byte("body")))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	next, stop := iter.Pull2(core.ReadResponse(resp, nil))
	defer stop()
	p, err, _ := next()
	if err != nil || string(p.Body) != "WATERMARKED" || p.Header.Get("Content-Length") != "11" {
		t.Fatalf("part %q %v, %v: want the changed body", p.Body, p.Header, err)
	}
	cam.Publish(core.JPEG([]byte("other")))
	p, err, _ = next()
	if err != nil || string(p.Body) != "other" || p.Header.Get("X-Mark") != "yes" {
		t.Fatalf("part %q %v, %v: want the changed header", p.Body, p.Header, err)
	}
}

// TestServeAnswersErrors: a handler that ignores Serve's error still sends
// a proper answer, never an empty 200.
func TestServeAnswersErrors(t *testing.T) {
	src := func(ctx context.Context) iter.Seq[core.Part] { return func(func(core.Part) bool) {} }
	for _, tc := range []struct {
		name, method string
		opts         *core.Options
		code         int
	}{
		{"POST", http.MethodPost, nil, http.StatusMethodNotAllowed},
		{"bad options", http.MethodGet, &core.Options{Boundary: "bad boundary"}, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := core.Serve(rec, httptest.NewRequest(tc.method, "/", nil), src, tc.opts)
			var se *core.StatusError
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Errorf("Serve = %v, want a *StatusError %d", err, tc.code)
			}
			if rec.Code != tc.code || rec.Body.String() != http.StatusText(tc.code)+"\n" {
				t.Errorf("answered %d %q, want %d", rec.Code, rec.Body.String(), tc.code)
			}
			if tc.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
			if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
				t.Errorf("Content-Type %q on an error", ct)
			}
		})
	}
}

// TestEndOnShutdownStreamsOnly: Shutdown ends a stream at once and leaves a
// plain slow handler on the same server to finish its work.
func TestEndOnShutdownStreamsOnly(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/stream", core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			if yield(core.Text("live")) {
				<-ctx.Done()
			}
		}
	}, nil))
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
			io.WriteString(w, "all done")
		case <-r.Context().Done():
			io.WriteString(w, "cancelled")
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	core.EndOnShutdown(srv.Config)
	srv.Start()
	defer srv.Close()
	stream, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	slow, err := http.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	shut := make(chan error, 1)
	go func() { shut <- srv.Config.Shutdown(context.Background()) }()
	n := 0
	for _, err := range core.ReadResponse(stream, nil) {
		if err != nil {
			t.Fatalf("stream: %v, want a clean end", err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("stream: %d parts", n)
	}
	close(release)
	body, _ := io.ReadAll(slow.Body)
	if string(body) != "all done" {
		t.Errorf("slow handler wrote %q, want it left alone by Shutdown", body)
	}
	if err := <-shut; err != nil {
		t.Error(err)
	}
}

// TestHeaderKeyCase: a header key in any case is used, and the same key
// twice in different cases is refused.
func TestHeaderKeyCase(t *testing.T) {
	var buf bytes.Buffer
	w := core.NewWriter(&buf)
	w.SetBoundary("B")
	p := core.Part{Header: textproto.MIMEHeader{"content-type": {"text/html"}}, Body: []byte("<p>")}
	if got := p.ContentType(); got != "text/html" {
		t.Errorf("ContentType = %q", got)
	}
	if err := w.WritePart(p); err != nil {
		t.Fatal(err)
	}
	if want := "--B\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n<p>\r\n--B\r\n"; buf.String() != want {
		t.Errorf("wire %q, want %q", buf.String(), want)
	}
	dup := core.Part{Header: textproto.MIMEHeader{"content-type": {"text/html"}, "Content-Type": {"image/png"}}}
	if err := w.WritePart(dup); !errors.Is(err, core.ErrInvalidHeader) {
		t.Errorf("two Content-Type keys: %v, want ErrInvalidHeader", err)
	}
	var cam core.Broadcaster
	if err := cam.Publish(dup); !errors.Is(err, core.ErrInvalidHeader) {
		t.Errorf("Publish with two Content-Type keys: %v, want ErrInvalidHeader", err)
	}
}

// TestSnapshotWait: before the first part, the snapshot answers 503 after
// SnapshotWait.
func TestSnapshotWait(t *testing.T) {
	cam := core.Broadcaster{SnapshotWait: 50 * time.Millisecond}
	rec := httptest.NewRecorder()
	cam.SnapshotHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("snapshot before the first part: %d %v, want 503 with Retry-After", rec.Code, rec.Header())
	}
}

// TestRun: Run serves until its context is done, ends streams cleanly, and
// closes a connection whose reader stopped after ShutdownGrace.
func TestRun(t *testing.T) {
	var cam core.Broadcaster
	big := bytes.Repeat([]byte{0xff}, 1<<20)
	cam.Publish(core.JPEG(big))
	srv := core.NewServer("", core.Handler(cam.Subscribe, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- core.Run(ctx, srv, ln) }()

	// A reader that keeps up, and one that stopped reading.
	reading, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer reading.Body.Close()
	stuck, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(stuck, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	next, stop := iter.Pull2(core.ReadResponse(reading, nil))
	defer stop()
	if _, err, _ := next(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ { // fill the stuck viewer's buffers
		cam.Publish(core.JPEG(big[i:]))
	}
	start := time.Now()
	cancel()
	for {
		_, err, ok := next()
		if !ok {
			break
		}
		if err != nil {
			t.Fatalf("reading viewer: %v, want a clean end", err)
		}
	}
	if err := <-ran; err != nil {
		t.Errorf("Run = %v", err)
	}
	if d := time.Since(start); d > core.ShutdownGrace+5*time.Second {
		t.Errorf("Run took %v to return", d)
	}
	cam.Shutdown(context.Background())
}
