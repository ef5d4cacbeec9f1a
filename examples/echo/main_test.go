package main

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/mxreplace/mx/internal/demoapp"
	"github.com/mxreplace/mx/internal/demoapp/demotest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // RequestLogger's output
	goleak.VerifyTestMain(m)
}

var app = demoapp.App{Name: "echo", NewHandler: newServer}

// TestApp: the demo app contract through the router, in this process.
func TestApp(t *testing.T) {
	t.Parallel()
	demotest.CheckApp(t, app)
}

// TestProcess: the demo app contract against the built program.
func TestProcess(t *testing.T) {
	t.Parallel()
	demotest.CheckProcess(t, app.Name)
}
