package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/echomx"
	"github.com/mxreplace/mx/internal/liveapp"
	"github.com/mxreplace/mx/internal/testpattern"
)

// Defaults of the flags.
const (
	defaultFPS     = 10
	defaultWidth   = 640
	defaultHeight  = 480
	defaultQuality = 75
	maxFPS         = 1000
)

// config is the app's configuration, from the command line.
type config struct {
	Addr          string
	FPS           float64 // frames per second, > 0; fractions allowed
	Width, Height int     // test pattern size
	Quality       int     // JPEG quality of the test pattern, 1-100
	Dir           string  // play the JPEG files of Dir instead of the test pattern
	Access        liveapp.Access
	// Logger gets the producer's errors. Default: the standard logger.
	Logger *log.Logger
}

// sizeFlag is a -size WxH value.
type sizeFlag struct{ w, h *int }

func (s sizeFlag) String() string {
	if s.w == nil {
		return ""
	}
	return strconv.Itoa(*s.w) + "x" + strconv.Itoa(*s.h)
}

func (s sizeFlag) Set(v string) error {
	ws, hs, ok := strings.Cut(strings.ToLower(v), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("want WIDTHxHEIGHT, such as 640x480")
	}
	*s.w, *s.h = w, h
	return nil
}

func (c *config) validate() error {
	if math.IsNaN(c.FPS) || c.FPS <= 0 || c.FPS > maxFPS {
		return fmt.Errorf("-fps %v: want more than 0 and at most %d (fractions such as 0.5 are fine)", c.FPS, maxFPS)
	}
	if c.Dir == "" {
		if err := (testpattern.Pattern{Width: c.Width, Height: c.Height}).Validate(); err != nil {
			return fmt.Errorf("-size %dx%d: %w", c.Width, c.Height, err)
		}
		if c.Quality < 1 || c.Quality > 100 {
			return fmt.Errorf("-quality %d: want 1 to 100", c.Quality)
		}
	}
	return c.Access.Validate()
}

// interval is the time between two frames.
func (c *config) interval() time.Duration { return time.Duration(float64(time.Second) / c.FPS) }

// newApp builds the app: the camera's Broadcaster, the producer goroutine
// feeding it, and the echo router serving it. stop ends the producer and
// waits for it; it does not shut the Broadcaster down. newApp fails for an
// invalid configuration or a -dir without JPEG files.
func newApp(cfg config) (h http.Handler, cam *core.Broadcaster, stop func(), err error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.Default()
	}
	page := &liveapp.Page{Title: "mx live camera"}
	fps := strconv.FormatFloat(cfg.FPS, 'f', -1, 64) + " fps"
	var src frames
	if cfg.Dir != "" {
		files, err := loadDir(cfg.Dir)
		if err != nil {
			return nil, nil, nil, err
		}
		src = dirFrames{files}
		page.Width, page.Height = files[0].width, files[0].height
		for _, f := range files {
			if f.width != page.Width || f.height != page.Height {
				page.Width, page.Height = 0, 0
			}
		}
		size := "various sizes"
		if page.Width != 0 {
			size = fmt.Sprintf("%dx%d", page.Width, page.Height)
		}
		page.Facts = []string{fmt.Sprintf("%d JPEG files from %s (%s) in a loop at %s, sent as they are.", len(files), cfg.Dir, size, fps)}
	} else {
		p := testpattern.Pattern{Width: cfg.Width, Height: cfg.Height}
		src = patternFrames{testpattern.NewEncoder(p, cfg.Quality)}
		page.Width, page.Height = cfg.Width, cfg.Height
		page.Facts = []string{fmt.Sprintf("Test pattern, %dx%d JPEG (quality %d) at %s: the big number counts frames from 1, the strip at the bottom carries it for machines.", cfg.Width, cfg.Height, cfg.Quality, fps)}
	}
	page.Facts = append(page.Facts, fmt.Sprintf("Every viewer gets the newest frame; a frame is repeated after %v without a new one.", liveapp.IdleRepeat))

	cam = liveapp.NewBroadcaster(false)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	if a := cfg.Access; a.CORSEnabled() {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     []string{a.Origin()},
			AllowMethods:     liveapp.CORSMethods,
			AllowHeaders:     liveapp.CORSAllowHeaders,
			ExposeHeaders:    liveapp.CORSExposeHeaders,
			AllowCredentials: a.AllowCredentials(),
		}))
	}
	if a := cfg.Access; a.AuthEnabled() {
		e.Use(middleware.BasicAuthWithConfig(middleware.BasicAuthConfig{
			Realm: liveapp.Realm,
			Validator: func(user, pass string, _ echo.Context) (bool, error) {
				return a.CheckAuth(user, pass), nil
			},
		}))
	}
	getHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getHead, liveapp.PagePath, echo.WrapHandler(page))
	e.Match(getHead, liveapp.StreamPath, echomx.Stream(cam.Subscribe))
	e.Match(getHead, liveapp.SnapshotPath, echo.WrapHandler(cam.SnapshotHandler()))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		produce(ctx, cam, src, cfg.interval(), logger)
	}()
	stop = func() {
		cancel()
		<-done
	}
	return e, cam, stop, nil
}
