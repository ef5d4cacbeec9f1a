package mxtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// Bounds of the demo apps' shutdown: open streams end at once, and the
// process is gone within 2 s.
const (
	streamEndBound = time.Second
	exitBound      = 2 * time.Second
)

// plain is the text a demo app answers code with: "Not Found." and so on.
func plain(code int) string { return http.StatusText(code) + "." }

// CheckDemoRouter runs the demo app contract against a router in this
// process. newRouter returns the app's router; it calls quit after
// answering GET /quit. The router serves the demo at / (exactly its
// parts, on schedule), 404 for other paths and 405 for other methods, all
// in plain text. A client that leaves mid-stream has its connection closed
// at once. The subtests are parallel.
func CheckDemoRouter(t *testing.T, newRouter func(quit func()) http.Handler) {
	serve := func(t *testing.T) (*httptest.Server, *http.Client) {
		return Serve(t, newRouter(func() { t.Error("quit called") }), false)
	}

	t.Run("Demo", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		CheckDemo(t, OpenGet(t, c, srv.URL+"/").All(t, 30*time.Second), nil)
	})

	t.Run("Wire", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		CheckDemoWire(t, Get(t, c, srv.URL+"/"))
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		for _, path := range []string{"/nope", "/favicon.ico", "/quit/", "/index.html", "/a/b"} {
			CheckPlain(t, c, http.MethodGet, srv.URL+path, http.StatusNotFound, plain(http.StatusNotFound))
			CheckPlain(t, c, http.MethodPost, srv.URL+path, http.StatusNotFound, plain(http.StatusNotFound))
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		for _, path := range []string{"/", "/quit"} {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions} {
				resp := CheckPlain(t, c, method, srv.URL+path, http.StatusMethodNotAllowed, plain(http.StatusMethodNotAllowed))
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
					t.Errorf("%s %s: Allow %q, want GET in it", method, path, allow)
				}
			}
		}
	})

	t.Run("Quit", func(t *testing.T) {
		t.Parallel()
		var once sync.Once
		quit := make(chan struct{})
		srv, c := Serve(t, newRouter(func() { once.Do(func() { close(quit) }) }), false)
		CheckPlain(t, c, http.MethodGet, srv.URL+"/quit", http.StatusAccepted, plain(http.StatusAccepted))
		select {
		case <-quit:
		case <-time.After(10 * time.Second):
			t.Fatal("GET /quit did not call quit")
		}
	})

	t.Run("Leave", func(t *testing.T) {
		t.Parallel()
		checkLeave(t, newRouter(func() {}))
	})
}

// checkLeave reads the first part of the demo and leaves. The server must
// close the connection at once, long before the next part is due.
func checkLeave(t *testing.T, h http.Handler) {
	closed := make(chan time.Time, 1)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- time.Now()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	resp := Do(t, Client(t), ctx, http.MethodGet, srv.URL+"/")
	st := Open(t, resp, resp.Body)
	st.Next(t, 10*time.Second)
	cancel()
	left := time.Now()
	select {
	case at := <-closed:
		d := at.Sub(left)
		t.Logf("the server closed the connection %v after the client left", d.Round(time.Microsecond))
		if next := demo.Steps()[0].Pause; d >= next {
			t.Errorf("connection closed %v after the client left, want before the next part (%v)", d, next)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open 10 s after the client left")
	}
}

// CheckDemoProcess runs the demo app contract against the built program.
// It prints its URL and answers 404 and 405. On GET /quit, SIGTERM or
// SIGINT it ends open streams cleanly at once and exits 0 within 2 s. 100
// clients at once each get the whole demo in about the demo's own time.
// The server is safe (CheckSafeServer). The subtests are parallel.
func CheckDemoProcess(t *testing.T, bin *Binary) {
	t.Run("Quit", func(t *testing.T) {
		t.Parallel()
		p := Start(t, bin.Path(t))
		c := Client(t)
		streams := openDemos(t, c, p.URL+"/", 2)
		CheckPlain(t, c, http.MethodGet, p.URL+"/nope", http.StatusNotFound, plain(http.StatusNotFound))
		CheckPlain(t, c, http.MethodPost, p.URL+"/", http.StatusMethodNotAllowed, plain(http.StatusMethodNotAllowed))
		CheckPlain(t, c, http.MethodGet, p.URL+"/quit", http.StatusAccepted, plain(http.StatusAccepted))
		asked := time.Now()
		checkEndedAtOnce(t, streams, asked)
		p.CheckExit(t, asked, exitBound)
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			// All interfaces: the URL line names localhost.
			p := Start(t, bin.Path(t), "-addr", ":0")
			if u, err := url.Parse(p.URL); err != nil || u.Hostname() != "localhost" {
				t.Errorf("URL %q for -addr :0, want http://localhost:PORT", p.URL)
			}
			streams := openDemos(t, Client(t), p.URL+"/", 2)
			asked := p.Signal(t, sig)
			checkEndedAtOnce(t, streams, asked)
			p.CheckExit(t, asked, exitBound)
		})
	}

	t.Run("100Clients", func(t *testing.T) {
		t.Parallel()
		const n = 100
		p := Start(t, bin.Path(t))
		c := Client(t)
		results := make([][]Arrival, n)
		start := time.Now()
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				resp, err := c.Get(p.URL + "/")
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				for part, err := range core.ReadResponse(resp, nil) {
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
					results[i] = append(results[i], Arrival{Part: part, At: time.Now()})
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		t.Logf("%d clients got the demo (%v long) in %v", n, DemoDuration, took.Round(time.Millisecond))
		for _, got := range results {
			CheckDemoParts(t, got)
		}
		if bound := 9 * time.Second; took > bound {
			t.Errorf("%d clients took %v, want < %v (about the demo's own %v)", n, took, bound, DemoDuration)
		}
		p.Stop(t, exitBound)
	})

	t.Run("Safe", func(t *testing.T) {
		t.Parallel()
		CheckSafeServer(t, bin, "/")
	})
}

// openDemos opens n demo streams at url and reads the first part of each.
func openDemos(t *testing.T, c *http.Client, url string, n int) []*Stream {
	t.Helper()
	streams := make([]*Stream, n)
	for i := range streams {
		streams[i] = OpenGet(t, c, url)
		if _, ok := streams[i].Next(t, 10*time.Second); !ok {
			t.Fatal("stream ended before its first part")
		}
	}
	return streams
}

// checkEndedAtOnce checks that each stream ends cleanly within
// streamEndBound of asked, well before the demo would have ended.
func checkEndedAtOnce(t *testing.T, streams []*Stream, asked time.Time) {
	t.Helper()
	for i, st := range streams {
		rest := st.All(t, 10*time.Second)
		d := time.Since(asked)
		t.Logf("stream %d ended cleanly %v after the shutdown was asked for", i, d.Round(time.Microsecond))
		if d > streamEndBound {
			t.Errorf("stream %d ended %v after the shutdown was asked for, want < %v", i, d, streamEndBound)
		}
		if n := 1 + len(rest); n >= len(demo.Steps()) {
			t.Errorf("stream %d got all %d parts, want it cut short", i, n)
		}
	}
}
