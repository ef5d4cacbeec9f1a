package demotest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/internal/demoapp"
)

// Bounds of the shutdown contract (DESIGN.md section 4): open streams end
// at once, the server (or process) is done within 2 s.
const (
	streamEndBound = time.Second
	exitBound      = 2 * time.Second
)

// CheckApp runs the demo app contract (DESIGN.md section 4) against app's
// router in this process: the demo at /, 404 and 405 answers through
// httptest, and /quit and a cancelled context (what SIGINT and SIGTERM do)
// through app.Run, the code the app's main runs. Its subtests are
// parallel.
func CheckApp(t *testing.T, app demoapp.App) {
	serve := func(t *testing.T) (*httptest.Server, *http.Client) {
		srv := httptest.NewServer(app.NewHandler(func() { t.Error("quit called") }))
		t.Cleanup(srv.Close)
		return srv, srv.Client()
	}

	t.Run("Demo", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		resp := Get(t, c, srv.URL+"/", nil)
		CheckDemo(t, Open(t, resp, resp.Body).All(t, 30*time.Second), nil)
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		for _, path := range []string{"/nope", "/favicon.ico", "/quit/", "/index.html", "/robots.txt", "/a/b"} {
			CheckPlain(t, c, http.MethodGet, srv.URL+path, http.StatusNotFound, demoapp.Body(http.StatusNotFound))
			CheckPlain(t, c, http.MethodPost, srv.URL+path, http.StatusNotFound, demoapp.Body(http.StatusNotFound))
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		t.Parallel()
		srv, c := serve(t)
		for _, path := range []string{"/", "/quit"} {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions} {
				resp := CheckPlain(t, c, method, srv.URL+path, http.StatusMethodNotAllowed, demoapp.Body(http.StatusMethodNotAllowed))
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
					t.Errorf("%s %s: Allow %q, want GET in it", method, path, allow)
				}
			}
		}
	})

	for _, how := range []string{"Quit", "Cancel"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := newLineWriter()
			app := app
			app.Stdout = out
			var runErr error
			ran := make(chan struct{})
			go func() {
				defer close(ran)
				runErr = app.Run(ctx, "127.0.0.1:0")
			}()
			t.Cleanup(func() { cancel(); <-ran })
			url := out.url(t, app.Name, 10*time.Second)
			c := newClient(t)

			streams := openDemos(t, c, url, 3)
			if how == "Quit" {
				CheckPlain(t, c, http.MethodGet, url+"quit", http.StatusAccepted, demoapp.Body(http.StatusAccepted))
			} else {
				cancel()
			}
			asked := time.Now()
			checkEndedAtOnce(t, streams, asked)
			select {
			case <-ran:
				if runErr != nil {
					t.Errorf("Run: %v", runErr)
				}
				if d := time.Since(asked); d > exitBound {
					t.Errorf("Run returned %v after the shutdown was asked for, want < %v", d, exitBound)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run still running 10s after the shutdown was asked for")
			}
		})
	}
}

// openDemos opens n demo streams at url and reads the first part of each.
func openDemos(t *testing.T, c *http.Client, url string, n int) []*Stream {
	t.Helper()
	streams := make([]*Stream, n)
	for i := range streams {
		resp := Get(t, c, url, nil)
		streams[i] = Open(t, resp, resp.Body)
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

// lineWriter collects an app's output and finds its URL line.
type lineWriter struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 1)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if strings.Contains(line, " listening on ") {
			select {
			case w.lines <- line:
			default:
			}
		}
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

var urlLine = regexp.MustCompile(`^mx demo \(([a-z]+)\) listening on (http://[^ ]+/)$`)

// url waits for the line "mx demo (name) listening on http://HOST:PORT/"
// and returns the URL.
func (w *lineWriter) url(t testing.TB, name string, timeout time.Duration) string {
	t.Helper()
	select {
	case line := <-w.lines:
		m := urlLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			t.Fatalf("URL line %q, want \"mx demo (%s) listening on http://HOST:PORT/\"", line, name)
		}
		return m[2]
	case <-time.After(timeout):
		t.Fatalf("no URL line within %v; output: %s", timeout, w.String())
		return ""
	}
}
