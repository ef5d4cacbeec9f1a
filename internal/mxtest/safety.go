package mxtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// The limits every example server keeps, as core.NewServer sets them.
const (
	idleTimeout       = 60 * time.Second
	readHeaderTimeout = 10 * time.Second
	// bigHeader is a request header block far above the server's cap.
	bigHeader = 100 << 10
)

// CheckSafeServer checks that a built example server is safe to expose.
// It starts the program at bin with args. A request with 100 KB of headers
// gets 431. A slow request header is cut, and an idle keep-alive
// connection is closed within 60 s (both skipped with -short). SIGTERM
// with viewers of streamPath that stopped reading ends the reading
// viewers' streams cleanly, and the program exits 0 within a few seconds.
// The subtests are parallel.
func CheckSafeServer(t *testing.T, bin *Binary, streamPath string, args ...string) {
	t.Run("HeaderLimit", func(t *testing.T) {
		t.Parallel()
		p := Start(t, bin.Path(t), args...)
		conn := dial(t, p.URL)
		fmt.Fprintf(conn, "GET /nope HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", bigHeader))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("a request with %d KB of headers: %v", bigHeader>>10, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a request with %d KB of headers: %s, want 431", bigHeader>>10, resp.Status)
		}
	})

	t.Run("SlowHeader", func(t *testing.T) {
		if testing.Short() {
			t.Skipf("waits %v for the server to cut a slow header", readHeaderTimeout)
		}
		t.Parallel()
		p := Start(t, bin.Path(t), args...)
		conn := dial(t, p.URL)
		fmt.Fprintf(conn, "GET /nope HTTP/1.1\r\nHost: x\r\n") // and never the end
		checkClosedWithin(t, conn, readHeaderTimeout)
	})

	t.Run("Idle", func(t *testing.T) {
		if testing.Short() {
			t.Skipf("waits up to %v for the server to close an idle connection", idleTimeout)
		}
		t.Parallel()
		p := Start(t, bin.Path(t), args...)
		conn := dial(t, p.URL)
		br := bufio.NewReader(conn)
		// HEAD: a finite answer on every route, streams included.
		fmt.Fprintf(conn, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the server closed the connection after one answer: not idle")
		}
		checkClosedWithin(t, br, idleTimeout)
	})

	t.Run("StalledViewers", func(t *testing.T) {
		t.Parallel()
		p := Start(t, bin.Path(t), args...)
		for range 3 {
			conn := dial(t, p.URL)
			// A small receive buffer: the server's writes stall sooner.
			conn.(*net.TCPConn).SetReadBuffer(4 << 10)
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", streamPath)
		}
		reader := OpenGet(t, Client(t), p.URL+streamPath)
		reader.Next(t, 20*time.Second)
		time.Sleep(time.Second) // the stalled viewers' buffers fill
		asked := p.Signal(t, syscall.SIGTERM)
		if err := reader.End(t, 10*time.Second); err != nil {
			t.Errorf("the reading viewer's stream: %v, want a clean end", err)
		}
		p.CheckExit(t, asked, core.ShutdownGrace+2*time.Second)
	})
}

// dial opens a TCP connection to the server at base, closed when the test
// ends.
func dial(t *testing.T, base string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// checkClosedWithin reads from r until the server closes the connection.
// It fails if that takes longer than bound, with 5 s of slack.
func checkClosedWithin(t *testing.T, r io.Reader, bound time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("the server closed the connection after %v (%v)", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(bound + 5*time.Second):
		t.Errorf("connection still open %v later, want closed within %v", bound+5*time.Second, bound)
	}
}
