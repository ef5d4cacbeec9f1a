package core_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestSnapshotHandler: the handler answers with the latest part as a plain
// response. A GET before the first part waits for it. Only safe header
// fields are copied. HEAD gets the headers; other methods get 405.
func TestSnapshotHandler(t *testing.T) {
	b := &core.Broadcaster{}
	srv := newServer(t, b.SnapshotHandler(), h1)
	client := srv.Client()

	// A GET before the first part waits for it.
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			got <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{resp, body, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("snapshot answered before the first part: %v %v", r.resp, r.err)
	case <-time.After(150 * time.Millisecond):
	}
	first := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, core.TimestampHeader: {"12.5"}, "X-Frame": {"1"},
		"Content-Encoding": {"gzip"}, "Set-Cookie": {"a=b"}, "Access-Control-Allow-Origin": {"*"}, "Transfer-Encoding": {"chunked"}, core.FinalHeader: {"x"}}, Body: seqBody(1, 5000)}
	if err := b.Publish(first); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(waitLimit):
		t.Fatal("snapshot still waiting after Publish")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	h := r.resp.Header
	if r.resp.StatusCode != 200 || h.Get("Content-Type") != "image/jpeg" || h.Get("Content-Length") != "5000" ||
		h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get(core.TimestampHeader) != "12.5" ||
		h.Get("X-Frame") != "" || h.Get(core.FinalHeader) != "" || h.Get("Content-Encoding") != "" || h.Get("Set-Cookie") != "" ||
		h.Get("Access-Control-Allow-Origin") != "" || len(r.resp.TransferEncoding) != 0 {
		t.Errorf("snapshot response %d %v", r.resp.StatusCode, h)
	}
	if !bytes.Equal(r.body, seqBody(1, 5000)) {
		t.Errorf("snapshot body of %d bytes differs", len(r.body))
	}

	// Later GETs get the latest part.
	b.Publish(seqPart(2, 10))
	b.Publish(core.PNG(seqBody(3, 777)))
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.ContentLength != 777 || !bytes.Equal(body, seqBody(3, 777)) {
		t.Errorf("snapshot: %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}

	// HEAD: the headers, no body.
	resp, err = client.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Content-Length") != "777" || len(body) != 0 {
		t.Errorf("HEAD: %d %v, %d bytes of body", resp.StatusCode, resp.Header, len(body))
	}
	raw := rawGet(t, srv, "/") // the raw response has exactly the body
	if raw.header.Get("Content-Length") != "777" {
		t.Errorf("raw Content-Length %q", raw.header.Get("Content-Length"))
	}
	raw.expect(t, string(seqBody(3, 777)))

	// Other methods: 405 with Allow.
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader("x"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// TestSnapshotHandlerWaiting: a request waiting for the first part ends
// when its client gives up, and gets 503 when the Broadcaster shuts down.
func TestSnapshotHandlerWaiting(t *testing.T) {
	b := &core.Broadcaster{}
	srv := newServer(t, b.SnapshotHandler(), h1)
	// A client that gives up while waiting for the first part: the handler
	// returns (no goroutine is left behind).
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("snapshot answered %d before any part", resp.StatusCode)
	}
	// Shutdown before any part: waiting requests get 503.
	got := make(chan int, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Error(err)
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	shutdown(t, b)
	select {
	case code := <-got:
		if code != http.StatusServiceUnavailable {
			t.Errorf("snapshot after Shutdown with no part: %d, want 503", code)
		}
	case <-time.After(waitLimit):
		t.Fatal("snapshot still waiting after Shutdown")
	}
}
