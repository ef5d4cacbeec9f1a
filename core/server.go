package core

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ShutdownGrace is how long [Run] lets requests finish after its context is
// done. Streams end at once; connections still open after ShutdownGrace
// (viewers that stopped reading, slow requests) are closed.
const ShutdownGrace = 3 * time.Second

// NewServer returns an http.Server for h on addr, set up to be exposed:
//   - ReadHeaderTimeout 10 s: a slow request header is cut;
//   - IdleTimeout 60 s: an idle keep-alive connection is closed;
//   - MaxHeaderBytes 32 KiB: larger request headers get 431;
//   - no ReadTimeout or WriteTimeout, so streams are unlimited in length
//     ([Serve] keeps its own write deadline per part);
//   - [EndOnShutdown]: Shutdown ends open streams cleanly, at once;
//   - [DirectWrites]: an HTTP/1.1 stream's parts go straight to the
//     connection.
func NewServer(addr string, h http.Handler) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	EndOnShutdown(srv)
	DirectWrites(srv)
	return srv
}

// Run serves srv on ln until ctx is done, then shuts srv down: open streams
// end cleanly at once, other requests get [ShutdownGrace] to finish, and
// connections still open after that are closed. It returns nil after such a
// shutdown, and the error of srv.Serve if serving fails. srv should come
// from [NewServer], or have had [EndOnShutdown] applied.
func Run(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	grace, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if srv.Shutdown(grace) != nil {
		srv.Close() // what is left: viewers that stopped reading
	}
	<-served
	return nil
}

// stopKey is the context key of the shutdown signal EndOnShutdown sets.
type stopKey struct{}

// EndOnShutdown makes srv.Shutdown end every open stream cleanly, at once.
// http.Server.Shutdown waits for active handlers but does not cancel their
// contexts. After EndOnShutdown, Shutdown cancels the context of each stream
// that [Serve] is serving, so it writes its close delimiter and returns.
// Other handlers are left alone. Call it before srv starts serving.
func EndOnShutdown(srv *http.Server) {
	stop, cancel := context.WithCancel(context.Background())
	base := srv.BaseContext
	srv.BaseContext = func(l net.Listener) context.Context {
		parent := context.Background()
		if base != nil {
			parent = base(l)
		}
		return context.WithValue(parent, stopKey{}, stop)
	}
	srv.RegisterOnShutdown(cancel)
}

// streamContext returns the context a stream's source runs with: ctx, also
// cancelled when a server set up by EndOnShutdown shuts down.
func streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	stop, ok := ctx.Value(stopKey{}).(context.Context)
	if !ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(stop, cancel)
	return ctx, func() { unhook(); cancel() }
}

// connKey is the context key of the connection DirectWrites records.
type connKey struct{}

// DirectWrites lets [Serve] write the parts of an HTTP/1.1 stream straight
// to the connection, past net/http's response buffers: with 1,000 viewers
// those layers and the flush after each part cost about a tenth of the
// server's CPU. The bytes on the wire are the same. net/http still owns
// the connection: it writes the response header, notices a client that
// leaves, and Shutdown and Close see the stream as an active request.
//
// Serve writes directly only to net/http's own response writer, unchunked
// (see Options.Chunked); under a middleware's wrapper of the
// ResponseWriter, under HTTP/2 and in tests with a recorder it writes
// through the ResponseWriter as before. Call DirectWrites before srv
// starts serving; [NewServer] does.
func DirectWrites(srv *http.Server) {
	next := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		return context.WithValue(ctx, connKey{}, c)
	}
}
