package core_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mxreplace/mx/core"
)

// spyListener hands out connections that note, for each write, whether
// net/http made it or Serve wrote straight to the connection.
type spyListener struct {
	net.Listener
	mu     sync.Mutex
	writes []byte // one per write: 'h' by net/http, 'c' by core
}

func (l *spyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &spyConn{Conn: c, l: l}, nil
}

// byWhom returns who made the writes so far, one letter each: 'h' for
// net/http, 'c' for core, '?' for anyone else.
func (l *spyListener) byWhom() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.writes)
}

type spyConn struct {
	net.Conn
	l *spyListener
}

func (c *spyConn) Write(p []byte) (int, error) {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	f, more := frames.Next()
	for more && strings.HasPrefix(f.Function, "crypto/tls.") {
		f, more = frames.Next() // TLS encrypts for whoever called it
	}
	who := byte('?')
	switch {
	case strings.HasPrefix(f.Function, "net/http."):
		who = 'h'
	case strings.HasPrefix(f.Function, "github.com/mxreplace/mx/core."):
		who = 'c'
	}
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, who)
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// serveSpied serves h over HTTP/1.1 (over TLS if tlsOn) on a spyListener,
// with or without core.DirectWrites, and returns the raw response of one
// GET of path.
func serveSpied(t *testing.T, h http.Handler, direct, tlsOn bool, path, userAgent string) (resp []byte, byWhom string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	spy := &spyListener{Listener: srv.Listener}
	srv.Listener = spy
	if direct {
		core.DirectWrites(srv.Config)
	}
	var c net.Conn
	var err error
	if tlsOn {
		srv.StartTLS() // HTTP/1.1 only: httptest does not enable HTTP/2
		defer srv.Close()
		c, err = tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		srv.Start()
		defer srv.Close()
		c, err = net.Dial("tcp", srv.Listener.Addr().String())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: mx.test\r\nConnection: close\r\nUser-Agent: "+userAgent+"\r\n\r\n")
	resp, err = io.ReadAll(c) // the stream ends, and the server closes
	if err != nil {
		t.Fatal(err)
	}
	// The Date header is the only one that may differ between servers.
	head, body, _ := bytes.Cut(resp, []byte("\r\n\r\n"))
	var kept [][]byte
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if !bytes.HasPrefix(line, []byte("Date: ")) {
			kept = append(kept, line)
		}
	}
	return append(append(bytes.Join(kept, []byte("\r\n")), "\r\n\r\n"...), body...), spy.byWhom()
}

// TestDirectWrites: after core.DirectWrites, an HTTP/1.1 stream's parts go
// from Serve straight to the connection, with the very bytes net/http would
// have sent, in both wire modes, with and without TLS, with a skipped part
// and a Last part. A wrapped ResponseWriter, chunked coding and a server
// without DirectWrites keep every write in net/http.
func TestDirectWrites(t *testing.T) {
	bad := core.Text("bad")
	bad.Header.Set("X-Bad", "a\r\nb")
	parts := []core.Part{core.Text("one"), bad, core.JPEG(bytes.Repeat([]byte{0xff}, 70<<10)), lastPart(core.HTML("<p>end</p>"))}
	src := partsSource(parts...)
	var log logBuffer
	serve := core.Handler(src, &core.Options{Boundary: "B", Logger: log.logger()})
	unmarkedParts := append([]core.Part(nil), parts...)
	unmarkedParts[3].Last = false
	unmarked := core.Handler(partsSource(unmarkedParts...), &core.Options{Boundary: "B", Logger: log.logger()})
	for _, tt := range []struct {
		name   string
		h      http.Handler
		ua     string
		repeat bool // the end is not marked: Writer.Close repeats the last part
	}{
		{"length", serve, "curl/8.0", false},
		{"advance", serve, chromeUA, false},
		{"length, unmarked end", unmarked, "curl/8.0", true},
		{"advance, unmarked end", unmarked, chromeUA, true},
	} {
		for _, tlsOn := range []bool{false, true} {
			name := tt.name
			if tlsOn {
				name += ", TLS"
			}
			t.Run(name, func(t *testing.T) {
				plain, plainBy := serveSpied(t, tt.h, false, tlsOn, "/", tt.ua)
				direct, directBy := serveSpied(t, tt.h, true, tlsOn, "/", tt.ua)
				if !bytes.Equal(plain, direct) {
					t.Errorf("responses differ:\nnet/http %q\n  direct %q", abbrev(plain), abbrev(direct))
				}
				if !bytes.HasSuffix(direct, []byte("</p>\r\n--B--\r\n")) || !bytes.Contains(direct, []byte("\r\none\r\n--B")) || bytes.Contains(direct, []byte("X-Bad")) {
					t.Errorf("direct response %q", abbrev(direct))
				}
				if n := bytes.Count(direct, []byte("<p>end</p>")); (n == 2) != tt.repeat {
					t.Errorf("last body sent %d times, want the repeat %v: %q", n, tt.repeat, abbrev(direct))
				}
				// The header goes through net/http, then one write per part
				// written (3, the bad one skipped) and one for the close
				// delimiter, or for the opening delimiter and the first part.
				if strings.Trim(plainBy, "h") != "" {
					t.Errorf("without DirectWrites, writes by %q, want all by net/http", plainBy)
				}
				// Over TLS, the handshake's writes come first and the
				// close_notify alert last, both by net/http.
				byCore := strings.TrimLeft(directBy, "h")
				if tlsOn {
					byCore = strings.TrimSuffix(byCore, "h")
				}
				if len(byCore) < 2 || byCore == directBy || strings.Trim(byCore, "c") != "" {
					t.Errorf("with DirectWrites, writes by %q, want the header by net/http and then all by core", directBy)
				}
				t.Logf("writes: net/http only %q, direct %q", plainBy, directBy)
			})
		}
	}

	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve.ServeHTTP(unwrapper{w}, r)
	})
	chunked := core.Handler(src, &core.Options{Boundary: "B", Chunked: true, Logger: log.logger()})
	for _, tt := range []struct {
		name string
		h    http.Handler
		ua   string
	}{
		{"wrapped writer", wrapped, "curl/8.0"},
		{"Options.Chunked", chunked, "curl/8.0"},
		{"ffmpeg (chunked)", serve, "Lavf/60.16.100"},
	} {
		if _, by := serveSpied(t, tt.h, true, false, "/", tt.ua); strings.Trim(by, "h") != "" {
			t.Errorf("%s: writes by %q, want all by net/http", tt.name, by)
		}
	}
}

// unwrapper is a middleware's ResponseWriter that hides nothing.
type unwrapper struct{ http.ResponseWriter }

func (w unwrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }
