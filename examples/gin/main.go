// Command gin is the mx demo on gin. GET / streams text, then an image,
// then HTML growing word by word, as multipart/x-mixed-replace. GET /quit
// shuts the server down.
//
//	go run ./examples/gin [-addr host:port]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/ginmx"
)

func main() {
	addr := flag.String("addr", ":8080", "listen on `host:port`")
	flag.Parse()
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode) // no route dump; GIN_MODE=debug for one
	}

	// SIGINT, SIGTERM and GET /quit end ctx. A second signal kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	ctx, quit := context.WithCancel(ctx)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mx demo (gin) listening on %s\n", url(ln.Addr()))
	// NewServer sets timeouts and header limits that are safe to expose.
	// Run ends every open stream cleanly when ctx is done.
	if err := core.Run(ctx, core.NewServer(*addr, routes(quit)), ln); err != nil {
		log.Fatal(err)
	}
}

// routes returns the demo's router. It calls quit after answering GET
// /quit.
func routes(quit func()) http.Handler {
	r := gin.New()
	r.Use(gin.Logger(), gin.Recovery())
	r.RedirectTrailingSlash = false // "/quit/" is not found, not a way to quit
	r.HandleMethodNotAllowed = true

	r.GET("/", ginmx.Stream(demo.Source))
	r.GET("/quit", func(c *gin.Context) {
		c.String(http.StatusAccepted, "Accepted.")
		quit()
	})
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusNotFound, "Not Found.") })
	r.NoMethod(func(c *gin.Context) { c.String(http.StatusMethodNotAllowed, "Method Not Allowed.") })
	return r
}

// url returns the address as a URL a browser on this machine can open.
func url(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
