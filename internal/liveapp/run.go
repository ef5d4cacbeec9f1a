package liveapp

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/demoapp"
)

// Run serves a live app on addr with demoapp (which prints the URL line
// "mx demo (name) listening on http://...") until the process gets SIGINT
// or SIGTERM, then shuts down: the server first, which ends every open
// stream cleanly (core.EndOnShutdown), then the app's producer (stop) and
// its Broadcaster. A second signal kills the process.
func Run(name, addr string, h http.Handler, cam *core.Broadcaster, stop func()) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	context.AfterFunc(ctx, cancel) // the next signal has its default effect
	app := demoapp.App{Name: name, NewHandler: func(func()) http.Handler { return h }}
	err := app.Run(ctx, addr)
	stop()
	sctx, scancel := context.WithTimeout(context.Background(), time.Second)
	defer scancel()
	cam.Shutdown(sctx)
	return err
}
