// Package demoapp runs the mx demo apps (examples/gin and examples/echo),
// so that each app's main is only its routing.
//
// An [App] parses -addr (default ":8080"), listens, prints one line with a
// clickable http:// URL, and serves until its handler asks to quit (GET
// /quit) or the process gets SIGINT or SIGTERM. Then it shuts down
// gracefully: [core.EndOnShutdown] makes every open stream end cleanly at
// once, and connections that do not finish within [ShutdownTimeout] are
// closed.
package demoapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mxreplace/mx/core"
)

// DefaultAddr is the default of the -addr flag.
const DefaultAddr = ":8080"

// ShutdownTimeout bounds a graceful shutdown: connections still open after
// it (a client that stopped reading, say) are closed.
const ShutdownTimeout = time.Second

// Body returns the plain-text body the demo apps answer code with, as the
// original demo did: the status text and a period ("Accepted.", "Not
// Found.", "Method Not Allowed.").
func Body(code int) string { return http.StatusText(code) + "." }

// App is a demo app.
type App struct {
	// Name names the framework in the URL line: "mx demo (Name) listening
	// on http://...".
	Name string
	// NewHandler returns the app's router. The router calls quit (once it
	// has written its answer to GET /quit) to shut the server down.
	NewHandler func(quit func()) http.Handler
	// Stdout receives the URL line. Default os.Stdout.
	Stdout io.Writer
}

// Main runs the app as a command: it parses the flags, runs until GET /quit
// or SIGINT or SIGTERM, and exits with status 1 on failure. A second
// signal during shutdown kills the process.
func (a App) Main() {
	addr := flag.String("addr", DefaultAddr, "listen on `host:port`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // the next signal has its default effect
	if err := a.Run(ctx, *addr); err != nil {
		fmt.Fprintf(os.Stderr, "mx demo (%s): %v\n", a.Name, err)
		os.Exit(1)
	}
}

// Run listens on addr, prints the URL line and serves until ctx is done or
// the handler calls quit, then shuts down gracefully. It returns nil after
// a graceful shutdown, and an error if it cannot listen or serve, or if
// connections had to be closed after ShutdownTimeout.
func (a App) Run(ctx context.Context, addr string) error {
	out := a.Stdout
	if out == nil {
		out = os.Stdout
	}
	quitCtx, quit := context.WithCancel(ctx)
	defer quit()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.NewHandler(quit),
		ReadHeaderTimeout: 10 * time.Second,
	}
	core.EndOnShutdown(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "mx demo (%s) listening on %s\n", a.Name, URL(ln.Addr()))

	select {
	case err := <-served:
		return err
	case <-quitCtx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("shutdown: connections closed after %v: %w", ShutdownTimeout, err)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// URL returns the http:// URL of a server listening on addr, one that a
// browser can open: an unspecified address (0.0.0.0, ::) becomes
// localhost.
func URL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
