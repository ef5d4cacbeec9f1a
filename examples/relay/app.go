package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/ginmx"
	"github.com/mxreplace/mx/internal/liveapp"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// defaultTimeout is the default of -timeout.
const defaultTimeout = 10 * time.Second

// config is the app's configuration, from the command line.
type config struct {
	Addr     string
	Upstream string        // the stream to relay: an http(s) URL
	Timeout  time.Duration // connect, response headers, longest gap between upstream parts
	Access   liveapp.Access
	// Logger gets the upstream's failures and recoveries. Default: the
	// standard logger.
	Logger *log.Logger
}

func (c *config) validate() error {
	if c.Upstream == "" {
		return errors.New("-upstream URL is required: the MJPEG stream to relay, such as http://camera:8080/stream")
	}
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-upstream %q: want an http:// or https:// URL", c.Upstream)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("-timeout %v: want more than 0", c.Timeout)
	}
	return c.Access.Validate()
}

// newApp builds the app: the Broadcaster, the goroutine that keeps the one
// upstream connection and publishes its parts, and the gin router serving
// them. stop ends the upstream connection and waits for it; it does not
// shut the Broadcaster down.
func newApp(cfg config) (h http.Handler, cam *core.Broadcaster, stop func(), err error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.Default()
	}
	upURL, _ := url.Parse(cfg.Upstream)
	shown := upURL.Redacted()
	page := &liveapp.Page{
		Title: "mx relay",
		Facts: []string{
			"Relaying " + shown + " over one upstream connection, whatever the number of viewers.",
			fmt.Sprintf("Every viewer gets the newest frame; a frame is repeated after %v without a new one, also while the relay reconnects.", liveapp.IdleRepeat),
		},
	}

	cam = liveapp.NewBroadcaster(true)
	r := gin.New()
	r.Use(gin.Recovery())
	if a := cfg.Access; a.CORSEnabled() {
		r.Use(cors.New(cors.Config{
			AllowOrigins:     []string{a.Origin()},
			AllowMethods:     liveapp.CORSMethods,
			AllowHeaders:     liveapp.CORSAllowHeaders,
			ExposeHeaders:    liveapp.CORSExposeHeaders,
			AllowCredentials: a.AllowCredentials(),
		}))
	}
	if a := cfg.Access; a.AuthEnabled() {
		r.Use(gin.BasicAuthForRealm(gin.Accounts{a.User: a.Pass}, liveapp.Realm))
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r.Handle(method, liveapp.PagePath, gin.WrapH(page))
		r.Handle(method, liveapp.StreamPath, ginmx.Stream(cam.Subscribe))
		r.Handle(method, liveapp.SnapshotPath, gin.WrapH(cam.SnapshotHandler()))
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
	transport.TLSHandshakeTimeout = cfg.Timeout
	transport.ResponseHeaderTimeout = cfg.Timeout
	up := &upstream{
		url:     cfg.Upstream,
		shown:   shown,
		cam:     cam,
		client:  &http.Client{Transport: transport},
		timeout: cfg.Timeout,
		logger:  logger,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		up.run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
		transport.CloseIdleConnections()
	}
	return r, cam, stop, nil
}
