package main

import (
	"log/slog"
	"testing"

	"github.com/mxreplace/mx/internal/mxtest"
)

var app = mxtest.Binary{Pkg: "."}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // RequestLogger's output
	mxtest.Main(m, &app)
}

// TestRouter: the demo app contract through the router, in this process.
func TestRouter(t *testing.T) {
	t.Parallel()
	mxtest.CheckDemoRouter(t, routes)
}

// TestProcess: the demo app contract against the built program.
func TestProcess(t *testing.T) {
	t.Parallel()
	mxtest.CheckDemoProcess(t, &app)
}

// TestFirefox: Firefox shows the demo, and its last part stays on screen.
func TestFirefox(t *testing.T) {
	t.Parallel()
	mxtest.CheckDemoFirefox(t, "echo", routes(func() {}))
}
