// Package ginmx serves multipart/x-mixed-replace streams from gin handlers.
//
//	r := gin.Default()
//	r.GET("/clock", ginmx.Stream(clock))        // any core.Source
//	r.GET("/stream", ginmx.Stream(cam.Subscribe)) // cam is a *core.Broadcaster
//
// The handler calls [core.Serve] with c.Writer and c.Request. The stream
// ends when the request's context is done: the client left, or the server
// shut down after [core.EndOnShutdown]. gin's Context is not used as a
// context: its Done never fires by default.
//
// Middleware in front of a stream route must pass each flush through at
// once. Skip compression middleware on stream routes: JPEG and PNG parts do
// not compress, and it costs CPU per part per viewer. Timeout middleware
// (gin-contrib/timeout, http.TimeoutHandler) buffers the response or cancels
// the request: do not wrap stream routes with it.
package ginmx

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/core"
)

// Stream returns a gin handler that serves src with the default options.
func Stream(src core.Source) gin.HandlerFunc { return StreamWith(src, nil) }

// StreamWith returns a gin handler that serves src with [core.Serve] and
// opts (nil means the defaults). It panics if opts are invalid, so that a
// bad configuration fails at registration.
//
// Serve answers its own errors, such as 405 for a POST. Each error goes to
// c.Error, for gin.Logger and later middleware. An error before the stream
// started also aborts the chain.
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
