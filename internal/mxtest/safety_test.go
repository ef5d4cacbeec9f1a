package mxtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestIdleClose: a server from core.NewServer closes an idle keep-alive
// connection after its IdleTimeout. Here it is short, so the close is
// seen on the wire; CheckSafeServer waits for the real 60 s.
func TestIdleClose(t *testing.T) {
	srv := core.NewServer("", http.NotFoundHandler())
	if srv.IdleTimeout <= 0 || srv.IdleTimeout > idleTimeout {
		t.Fatalf("core.NewServer: IdleTimeout %v, want at most %v", srv.IdleTimeout, idleTimeout)
	}
	srv.IdleTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- core.Run(ctx, srv, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	conn := dial(t, "http://"+ln.Addr().String())
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	checkClosedWithin(t, br, srv.IdleTimeout)
	if d := time.Since(start); d < srv.IdleTimeout/2 {
		t.Errorf("closed after %v, before the idle timeout of %v", d, srv.IdleTimeout)
	}
}

func TestPublicImport(t *testing.T) {
	for path, want := range map[string]bool{
		"net/http":                                true,
		"github.com/mxreplace/mx/core":            true,
		"github.com/mxreplace/mx/examples/demo":   true,
		"github.com/labstack/echo/v4/middleware":  true,
		"github.com/mxreplace/mx/internal/mxtest": false,
		"github.com/mxreplace/mx/core/internal":   false,
		"github.com/nats-io/nats.go":              true,
	} {
		if got := publicImport(path); got != want {
			t.Errorf("publicImport(%q) = %v, want %v", path, got, want)
		}
	}
}
