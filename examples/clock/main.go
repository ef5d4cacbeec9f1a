// Command clock is the smallest mx server: a page that shows the time and
// replaces itself every second, with no JavaScript. Open it in Firefox
// (Chromium renders multipart/x-mixed-replace for images only).
//
//	go run ./examples/clock [-addr host:port]
package main

import (
	"context"
	"flag"
	"fmt"
	"iter"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mxreplace/mx/core"
)

// clock is a core.Source: one call per viewer, a part every second.
func clock(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for yield(core.HTML("<h1>" + time.Now().Format(time.TimeOnly) + "</h1>")) {
			select {
			case <-tick.C:
			case <-ctx.Done(): // the viewer left, or the server shuts down
				return
			}
		}
	}
}

func main() {
	addr := flag.String("addr", ":8080", "listen on `host:port`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Printf("clock listening on http://localhost:%s/\n", port)
	// Run serves until SIGINT or SIGTERM, then ends every stream cleanly.
	if err := core.Run(ctx, core.NewServer(*addr, core.Handler(clock, nil)), ln); err != nil {
		log.Fatal(err)
	}
}
