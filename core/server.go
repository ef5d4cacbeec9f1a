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
//   - [EndOnShutdown]: Shutdown ends open streams cleanly, at once.
func NewServer(addr string, h http.Handler) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	EndOnShutdown(srv)
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
