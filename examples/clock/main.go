// Command clock is the smallest mx server: a page that shows the time and
// replaces itself every second, with no JavaScript. Open it in Firefox
// (Chromium renders multipart/x-mixed-replace for images only).
package main

import (
	"context"
	"iter"
	"log"
	"net/http"
	"time"

	"github.com/mxreplace/mx/core"
)

func clock(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for yield(core.HTML("<h1>" + time.Now().Format(time.TimeOnly) + "</h1>")) {
			select {
			case <-tick.C:
			case <-ctx.Done(): // the client left
				return
			}
		}
	}
}

func main() { log.Fatal(http.ListenAndServe(":8080", core.Handler(clock, nil))) }
