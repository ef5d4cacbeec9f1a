// Command echo is the mx demo on echo. GET / streams text, then an image,
// then HTML growing word by word, as multipart/x-mixed-replace. GET /quit
// shuts the server down.
//
//	go run ./examples/echo [-addr host:port]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/echomx"
	"github.com/mxreplace/mx/examples/demo"
)

func main() {
	addr := flag.String("addr", ":8080", "listen on `host:port`")
	flag.Parse()

	// SIGINT, SIGTERM and GET /quit end ctx. A second signal kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	ctx, quit := context.WithCancel(ctx)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mx demo (echo) listening on %s\n", url(ln.Addr()))
	// NewServer sets timeouts and header limits that are safe to expose.
	// Run ends every open stream cleanly when ctx is done.
	if err := core.Run(ctx, core.NewServer(*addr, routes(quit)), ln); err != nil {
		log.Fatal(err)
	}
}

// routes returns the demo's router. It calls quit after answering GET
// /quit.
func routes(quit func()) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.RequestLogger(), middleware.Recover())
	e.HTTPErrorHandler = plainTextErrors

	e.GET("/", echomx.Stream(demo.Source))
	e.GET("/quit", func(c echo.Context) error {
		err := c.String(http.StatusAccepted, "Accepted.")
		quit()
		return err
	})
	// echo answers OPTIONS by itself (204). The demo answers 405 to every
	// method but GET, as on gin.
	for _, path := range []string{"/", "/quit"} {
		e.OPTIONS(path, func(c echo.Context) error {
			c.Response().Header().Set("Allow", http.MethodGet)
			return echo.ErrMethodNotAllowed
		})
	}
	return e
}

// plainTextErrors answers errors in plain text ("Not Found."), like the
// original demo, instead of echo's JSON. It leaves a response that has
// started (a stream) alone.
func plainTextErrors(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	}
	if err := c.String(code, http.StatusText(code)+"."); err != nil {
		c.Logger().Error(err)
	}
}

// url returns the address as a URL a browser on this machine can open.
func url(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
