package main

import (
	"io"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/internal/mxtest"
)

var app = mxtest.Binary{Pkg: "."}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	gin.DefaultWriter, gin.DefaultErrorWriter = io.Discard, io.Discard
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
	mxtest.CheckDemoFirefox(t, "gin", routes(func() {}))
}

// TestChromium: Chromium loads the demo (what it shows is saved).
func TestChromium(t *testing.T) {
	t.Parallel()
	mxtest.CheckDemoChromium(t, "gin", routes(func() {}))
}
