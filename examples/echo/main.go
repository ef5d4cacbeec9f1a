// Command echo is the mx demo on echo: GET / streams text, then an image,
// then HTML growing word by word, as multipart/x-mixed-replace; GET /quit
// shuts the server down.
//
//	go run ./examples/echo [-addr host:port]
package main

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mxreplace/mx/echomx"
	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/internal/demoapp"
)

func main() {
	demoapp.App{Name: "echo", NewHandler: newServer}.Main()
}

// newServer returns the demo's router. It calls quit after answering GET
// /quit.
func newServer(quit func()) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.RequestLogger(), middleware.Recover())
	e.HTTPErrorHandler = plainTextErrors

	e.GET("/", echomx.Stream(demo.Source))
	e.GET("/quit", func(c echo.Context) error {
		err := c.String(http.StatusAccepted, demoapp.Body(http.StatusAccepted))
		quit()
		return err
	})
	// echo answers OPTIONS by itself (204); the demo answers 405 to every
	// method but GET, as on gin.
	for _, path := range []string{"/", "/quit"} {
		e.OPTIONS(path, func(c echo.Context) error {
			c.Response().Header().Set("Allow", http.MethodGet)
			return echo.ErrMethodNotAllowed
		})
	}
	return e
}

// plainTextErrors answers errors ("Not Found.", "Method Not Allowed.") in
// plain text, like the original demo, instead of echo's JSON. It leaves a
// response that has started (a stream) alone.
func plainTextErrors(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	}
	if err := c.String(code, demoapp.Body(code)); err != nil {
		c.Logger().Error(err)
	}
}
