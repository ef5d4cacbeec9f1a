// Package ginmx serves multipart/x-mixed-replace streams from gin handlers.
//
// It only translates gin's handler signature into [core.Serve]'s arguments:
//
//	r := gin.Default()
//	r.GET("/", ginmx.Stream(demo.Source))
//	r.GET("/stream", ginmx.Stream(cam.Subscribe)) // cam is a *core.Broadcaster
//
// The stream is written through c.Writer, so middleware that wraps it keeps
// working, and it ends when c.Request.Context() is done (the client left,
// or the server shut down after [core.EndOnShutdown]); gin's own Context is
// not used as a context, because its Done never fires by default.
//
// Middleware in front of a stream route must pass every flush through at
// once. Compression middleware (gin-contrib/gzip and the like) should skip
// stream routes: compressing already compressed JPEG or PNG parts gains
// nothing and costs CPU on every part for every viewer. Timeout middleware
// that buffers the response (gin-contrib/timeout, http.TimeoutHandler) or
// cancels the request context must not wrap them.
package ginmx

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/core"
)

// Stream returns a gin handler that serves src with the default options.
// See [StreamWith].
func Stream(src core.Source) gin.HandlerFunc { return StreamWith(src, nil) }

// StreamWith returns a gin handler that serves src with [core.Serve] and
// opts (nil means the defaults). It panics if opts are invalid, so that a
// bad configuration fails at registration.
//
// Serve answers its own errors (such as 405 for a POST). Every error is
// attached to the context with c.Error, for gin.Logger and later
// middleware; an error before the stream started also aborts the chain.
func StreamWith(src core.Source, opts *core.Options) gin.HandlerFunc {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return func(c *gin.Context) {
		err := core.Serve(c.Writer, c.Request, src, opts)
		if err == nil {
			return
		}
		_ = c.Error(err)
		var se *core.StatusError
		if errors.As(err, &se) {
			c.Abort()
		}
	}
}
