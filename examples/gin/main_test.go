package main

import (
	"io"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/mxreplace/mx/internal/demoapp"
	"github.com/mxreplace/mx/internal/demoapp/demotest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	gin.DefaultWriter, gin.DefaultErrorWriter = io.Discard, io.Discard
	goleak.VerifyTestMain(m)
}

var app = demoapp.App{Name: "gin", NewHandler: newServer}

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

// TestFirefox: Firefox shows the demo, and its last part stays on screen.
func TestFirefox(t *testing.T) {
	t.Parallel()
	demotest.CheckFirefox(t, app.Name, newServer(func() {}))
}

// TestChromium: Chromium loads the demo (what it shows is logged).
func TestChromium(t *testing.T) {
	t.Parallel()
	demotest.CheckChromium(t, app.Name, newServer(func() {}))
}
