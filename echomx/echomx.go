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
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/mxreplace/mx/core"
)

// Stream returns an echo handler that serves src with the default options.
// See [StreamWith].
func Stream(src core.Source) echo.HandlerFunc { return StreamWith(src, nil) }

// StreamWith returns an echo handler that serves src with [core.Serve] and
// opts (nil means the defaults). It panics if opts are invalid, so that a
// bad configuration fails at registration, as [core.Handler] does.
//
// An error before the first byte (a *core.StatusError, such as 405 for a
// POST) is returned as an *echo.HTTPError with its code (and the
// StatusError as its internal error), so that echo's HTTPErrorHandler
// answers the request. An error after the first byte (a panicking source,
// an invalid part) is returned as it is, for logging middleware to see;
// the response is committed by then, which echo's default HTTPErrorHandler
// leaves alone (a custom one must check c.Response().Committed as well). A
// client that leaves is not an error.
func StreamWith(src core.Source, opts *core.Options) echo.HandlerFunc {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return func(c echo.Context) error {
		err := core.Serve(c.Response(), c.Request(), src, opts)
		var se *core.StatusError
		if errors.As(err, &se) {
			return echo.NewHTTPError(se.Code).SetInternal(err)
		}
		return err
	}
}
