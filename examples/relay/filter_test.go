package main

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/internal/mxtest"
)

// rawPart is one part as an upstream writes it, Content-Type and all.
type rawPart struct {
	types []string // Content-Type fields, as written
	body  []byte
}

// rawUpstream serves one multipart stream whose parts the test writes
// byte for byte, Content-Type and all.
func rawUpstream(t *testing.T) (url string, parts chan<- rawPart) {
	ch := make(chan rawPart)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=up")
		fmt.Fprint(w, "--up\r\n")
		http.NewResponseController(w).Flush()
		for {
			select {
			case p := <-ch:
				for _, ct := range p.types {
					fmt.Fprintf(w, "Content-Type: %s\r\n", ct)
				}
				fmt.Fprintf(w, "Content-Length: %d\r\n\r\n%s\r\n--up\r\n", len(p.body), p.body)
				http.NewResponseController(w).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close) // after the relay's cleanup, which ends its request
	return srv.URL, ch
}

// TestFilter: whatever the upstream sends, a viewer and /snapshot get
// only JPEG images. The upstream sends text, HTML, SVG, type lists, bad
// bodies and JPEG bodies that hold the relay's delimiter, each kind twice.
// The relay logs each kind once and keeps its last good frame.
func TestFilter(t *testing.T) {
	t.Parallel()
	url, parts := rawUpstream(t)
	p := startRelay(t, url)
	c := mxtest.Client(t)
	resp := mxtest.Get(t, c, p.URL+"/stream")
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	delim := "\r\n--" + params["boundary"]
	st := mxtest.Open(t, resp, resp.Body)

	good := func(n int) []byte { return mxtest.Pattern(t, 160, 120, uint64(n)) }
	send := func(p rawPart) {
		select {
		case parts <- p:
		case <-time.After(20 * time.Second):
			t.Fatal("the relay did not read the upstream")
		}
	}
	// want reads the viewer's stream up to frame want. Every part must be
	// a good frame, the viewer may skip some.
	want := func(n int) {
		t.Helper()
		for {
			a, ok := st.Next(t, 20*time.Second)
			if !ok {
				t.Fatalf("stream ended waiting for frame %d", n)
			}
			if ct := a.Part.Header.Get("Content-Type"); ct != "image/jpeg" {
				t.Fatalf("viewer got a part of type %q: %.80q", ct, a.Part.Body)
			}
			if bytes.Contains(a.Part.Body, []byte(delim)) {
				t.Fatalf("viewer got a body with the delimiter %q", delim)
			}
			if bytes.Equal(a.Part.Body, good(n)) {
				return
			}
		}
	}
	send(rawPart{[]string{"image/jpeg"}, good(1)})
	want(1)

	forged := append(good(7), []byte(delim+"\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>")...)
	bad := []rawPart{
		{[]string{"text/plain"}, []byte("hello")},
		{[]string{"text/html; charset=utf-7"}, []byte("<script>alert(1)</script>")},
		{[]string{"image/svg+xml"}, []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)},
		{[]string{"image/jpeg, text/html"}, good(5)},
		{[]string{"image/jpeg", "text/html"}, good(5)},
		{[]string{"image/jpeg"}, []byte("<!doctype html><script>alert(1)</script>")},
		{[]string{"image/jpeg"}, forged},
	}
	for round := range 2 {
		for _, b := range bad {
			send(b)
		}
		send(rawPart{[]string{"image/jpeg"}, good(2 + round)})
		want(2 + round)
	}

	snap := mxtest.Get(t, c, p.URL+"/snapshot")
	body := mxtest.ReadAll(t, snap)
	if ct := snap.Header.Get("Content-Type"); ct != "image/jpeg" || !bytes.Equal(body, good(3)) {
		t.Errorf("/snapshot: %q, %d bytes; want the last good frame", ct, len(body))
	}
	if got := snap.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("/snapshot: X-Content-Type-Options %q, want nosniff", got)
	}

	logs := p.Stderr()
	t.Logf("relay log:\n%s", logs)
	for _, kind := range []string{"type text/plain", "type text/html", "type image/svg+xml",
		`Content-Type "image/jpeg, text/html"`, "2 Content-Type fields", "whose body is not image/jpeg", "delimiter"} {
		if n := strings.Count(logs, kind); n != 1 {
			t.Errorf("%q logged %d times, want once", kind, n)
		}
	}
	if n := strings.Count(logs, "dropping"); n != len(bad) {
		t.Errorf("%d drop lines, want %d (one per kind)", n, len(bad))
	}
}
