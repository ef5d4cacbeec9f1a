// Package echomx serves multipart/x-mixed-replace streams from echo (v4)
// handlers.
//
//	e := echo.New()
//	e.GET("/clock", echomx.Stream(clock))        // any core.Source
//	e.GET("/stream", echomx.Stream(cam.Subscribe)) // cam is a *core.Broadcaster
//
// The handler calls [core.Serve] with c.Response() and c.Request(). The
// stream ends when the request's context is done: the client left, or the
// server shut down after [core.EndOnShutdown].
//
// Middleware in front of a stream route must pass each flush through at
// once. The Timeout middleware buffers the whole response, and
// ContextTimeout ends the stream when it fires: do not wrap stream routes
// with them. Skip Gzip on stream routes (its Skipper): JPEG and PNG parts do
// not compress, and it costs CPU per part per viewer.
package echomx

import (
	"github.com/labstack/echo/v4"

	"github.com/mxreplace/mx/core"
)

// Stream returns an echo handler that serves src with the default options.
func Stream(src core.Source) echo.HandlerFunc { return StreamWith(src, nil) }

// StreamWith returns an echo handler that serves src with [core.Serve] and
// opts (nil means the defaults). It panics if opts are invalid, so that a
// bad configuration fails at registration.
//
// Serve answers its own errors, such as 405 for a POST, and the handler
// returns them for logging middleware. The response is committed by then:
// echo's default HTTPErrorHandler leaves it alone, and a custom one must
// check c.Response().Committed.
func StreamWith(src core.Source, opts *core.Options) echo.HandlerFunc {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return func(c echo.Context) error {
		return core.Serve(c.Response(), c.Request(), src, opts)
	}
}
