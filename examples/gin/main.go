// Command gin is the mx demo on gin: GET / streams text, then an image,
// then HTML growing word by word, as multipart/x-mixed-replace; GET /quit
// shuts the server down.
//
//	go run ./examples/gin [-addr host:port]
package main

import (
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/ginmx"
	"github.com/mxreplace/mx/internal/demoapp"
)

func main() {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode) // no route dump; GIN_MODE=debug for one
	}
	demoapp.App{Name: "gin", NewHandler: newServer}.Main()
}

// newServer returns the demo's router. It calls quit after answering GET
// /quit.
func newServer(quit func()) http.Handler {
	r := gin.New()
	r.Use(gin.Logger(), gin.Recovery())
	r.RedirectTrailingSlash = false // "/quit/" is not found, not a way to quit
	r.HandleMethodNotAllowed = true

	r.GET("/", ginmx.Stream(demo.Source))
	r.GET("/quit", func(c *gin.Context) {
		c.String(http.StatusAccepted, demoapp.Body(http.StatusAccepted))
		quit()
	})
	r.NoRoute(func(c *gin.Context) {
		c.String(http.StatusNotFound, demoapp.Body(http.StatusNotFound))
	})
	r.NoMethod(func(c *gin.Context) {
		c.String(http.StatusMethodNotAllowed, demoapp.Body(http.StatusMethodNotAllowed))
	})
	return r
}
