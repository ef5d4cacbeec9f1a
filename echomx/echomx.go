// Package echomx serves multipart/x-mixed-replace streams from echo (v4)
// handlers.
//
// It only translates echo's handler signature into [core.Serve]'s
// arguments:
//
//	e := echo.New()
//	e.GET("/", echomx.Stream(demo.Source))
//	e.GET("/stream", echomx.Stream(cam.Subscribe)) // cam is a *core.Broadcaster
//
// The stream is written through c.Response(), so middleware that wraps it
// keeps working, and it ends when the request's context is done (the
// client left, or the server shut down after [core.EndOnShutdown]).
//
// Middleware in front of a stream route must pass every flush through at
// once. The Timeout middleware must not wrap stream routes: it buffers the
// whole response (and ContextTimeout ends the stream when it fires). The
// Gzip middleware does flush each part, compressed, but it should skip
// stream routes (its Skipper): compressing already compressed JPEG or PNG
// parts gains nothing and costs CPU on every part for every viewer.
package echomx

import (
	"github.com/labstack/echo/v4"

	"github.com/mxreplace/mx/core"
)

// Stream returns an echo handler that serves src with the default options.
// See [StreamWith].
func Stream(src core.Source) echo.HandlerFunc { return StreamWith(src, nil) }

// StreamWith returns an echo handler that serves src with [core.Serve] and
// opts (nil means the defaults). It panics if opts are invalid, so that a
// bad configuration fails at registration.
//
// Serve answers its own errors (such as 405 for a POST) and returns them,
// for logging middleware to see. The response is committed by then, so
// echo's default HTTPErrorHandler leaves it alone; a custom one must check
// c.Response().Committed.
func StreamWith(src core.Source, opts *core.Options) echo.HandlerFunc {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return func(c echo.Context) error {
		return core.Serve(c.Response(), c.Request(), src, opts)
	}
}
