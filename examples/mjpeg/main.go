// Command mjpeg is a live test-pattern camera on echo. A producer
// publishes JPEG frames to one core.Broadcaster, and every viewer gets the
// newest frame.
//
//	go run ./examples/mjpeg [-addr :8080] [-fps 10] [-size 640x480] [-quality 75]
//	                        [-dir DIR] [-user U -pass P] [-allow-origin ORIGIN]
//	                        [-tls [-cert FILE -key FILE]]
//
// Routes:
//
//	GET /          a page showing the stream in an <img>
//	GET /tiles     a page with n tiles of the stream (?n=12, at most 64)
//	GET /stream    the MJPEG stream: image/jpeg parts with Content-Length and
//	               X-Timestamp (Unix seconds with microseconds, taken at publish)
//	GET /snapshot  the latest frame as one image/jpeg
//
// Browsers open at most 6 HTTP/1.1 connections per host, so over HTTP/1.1
// only 6 tiles play. -tls serves HTTPS with HTTP/2, where every tile
// plays: with -cert and -key, or a self-signed certificate made at start.
//
// The test pattern shows the frame number in big digits, so a screenshot
// tells which frame a browser shows. -dir DIR plays the *.jpg and *.jpeg
// files of DIR instead: read once, in name order, in a loop, byte for
// byte. -fps takes fractions: 0.5 is a frame every 2 s. A viewer gets the
// latest frame again after 1 s without a new one.
//
// With -user and -pass every route needs HTTP Basic auth. -allow-origin
// adds CORS headers for one origin, or for all with "*". SIGINT and
// SIGTERM end every open stream cleanly, and the process exits 0.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/echomx"
	"github.com/mxreplace/mx/examples/devcert"
)

func main() {
	addr := flag.String("addr", ":8080", "listen on `host:port`")
	fps := flag.Float64("fps", 10, "frames per second; fractions allowed (0.5: a frame every 2 s)")
	width, height := 640, 480
	flag.Func("size", "test pattern size `WxH` (default 640x480)", func(s string) error {
		_, err := fmt.Sscanf(strings.ToLower(s), "%dx%d", &width, &height)
		return err
	})
	quality := flag.Int("quality", 75, "JPEG `quality` of the test pattern, 1-100")
	dir := flag.String("dir", "", "play the *.jpg and *.jpeg files of `DIR` in name order, in a loop")
	user := flag.String("user", "", "require HTTP Basic auth as `name` (with -pass)")
	pass := flag.String("pass", "", "HTTP Basic auth `password` (with -user)")
	origin := flag.String("allow-origin", "", "allow CORS from `ORIGIN`, such as https://example.com, or *")
	useTLS := flag.Bool("tls", false, "serve HTTPS and HTTP/2 (a self-signed certificate unless -cert and -key)")
	certFile := flag.String("cert", "", "TLS certificate `file` (PEM), with -tls")
	keyFile := flag.String("key", "", "TLS key `file` (PEM), with -tls")
	flag.Parse()

	// The frames: the test pattern, or the files of -dir.
	if !(*fps > 0 && *fps <= 1000) {
		fail("-fps %v: want more than 0 and at most 1000", *fps)
	}
	var cam camera
	if *dir != "" {
		cam.loadDir(*dir, *fps)
	} else {
		cam.pattern(width, height, *quality, *fps)
	}
	checkAccess(*user, *pass, *origin)

	// One Broadcaster for all viewers: X-Timestamp on every part, and the
	// latest frame again after a second without a new one.
	b := &core.Broadcaster{Timestamps: true, IdleRepeat: time.Second}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	if *origin != "" { // before auth: a preflight carries no credentials
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     []string{strings.TrimSuffix(*origin, "/")},
			AllowMethods:     []string{http.MethodGet, http.MethodHead, http.MethodOptions},
			AllowHeaders:     []string{"Authorization"},
			ExposeHeaders:    []string{"Content-Length", core.TimestampHeader},
			AllowCredentials: *user != "" && *origin != "*",
		}))
	}
	if *user != "" {
		e.Use(middleware.BasicAuthWithConfig(middleware.BasicAuthConfig{
			Realm: "mx",
			Validator: func(u, p string, _ echo.Context) (bool, error) {
				return same(u, *user) && same(p, *pass), nil
			},
		}))
	}
	getHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getHead, "/", func(c echo.Context) error { return cam.page(c.Response(), c.Request()) })
	e.Match(getHead, "/tiles", func(c echo.Context) error { return tiles(c.Response(), c.Request()) })
	e.Match(getHead, "/stream", echomx.Stream(b.Subscribe))
	e.Match(getHead, "/snapshot", echo.WrapHandler(b.SnapshotHandler()))

	// SIGINT and SIGTERM end ctx: the producer stops, and Run ends every
	// open stream cleanly. A second signal kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	go cam.produce(ctx, b)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	scheme := "http"
	if *useTLS { // browsers speak HTTP/2 over TLS only
		cfg, note, err := devcert.Config(*certFile, *keyFile)
		if err != nil {
			fail("%v", err)
		}
		ln, scheme = tls.NewListener(ln, cfg), "https"
		fmt.Printf("mx camera: %s\n", note)
	} else if *certFile != "" || *keyFile != "" {
		fail("-cert and -key go with -tls")
	}
	fmt.Printf("mx camera listening on %s\n", browserURL(scheme, ln.Addr()))
	// NewServer sets timeouts and header limits that are safe to expose.
	if err := core.Run(ctx, core.NewServer(*addr, e), ln); err != nil {
		log.Fatal(err)
	}
}

// checkAccess exits if the access flags do not go together.
func checkAccess(user, pass, origin string) {
	if (user == "") != (pass == "") || strings.Contains(user, ":") {
		fail("-user and -pass go together, and a user name has no colon")
	}
	if o := strings.TrimSuffix(origin, "/"); o != "" && o != "*" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
			fail("-allow-origin %q: want * or an origin such as https://example.com:8443", origin)
		}
	}
}

// same compares two secrets in constant time, whatever their lengths.
func same(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// fail reports a bad command line and exits with status 2, like the flag
// package.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mjpeg: "+format+"\n", args...)
	os.Exit(2)
}

var pageHTML = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8"><title>mx camera</title>
<style>body { margin: 0; background: #15171c; color: #d8dce4; font: 15px system-ui }
img { display: block } p { margin: 8px 16px } a { color: #7cc4ff }</style>
<img src="/stream{{with .Mode}}?mx={{.}}{{end}}" alt="live stream"{{with .Width}} width="{{.}}"{{end}}{{with .Height}} height="{{.}}"{{end}}>
<p>{{.About}}
<p><a href="/snapshot">/snapshot</a> the latest frame ·
wire mode: <a href="/">auto</a> · <a href="/?mx=advance">advance</a> · <a href="/?mx=length">length</a>
`))

// page writes the HTML page. Its ?mx= wire mode, if valid, goes on to the
// stream.
func (c *camera) page(w http.ResponseWriter, r *http.Request) error {
	mode := r.URL.Query().Get(core.ModeParam)
	if m, err := core.ParseMode(mode); err != nil || m == core.ModeAuto {
		mode = ""
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return pageHTML.Execute(w, struct {
		*camera
		Mode string
	}{c, strings.ToLower(mode)})
}

var tilesHTML = template.Must(template.New("tiles").Parse(`<!doctype html>
<meta charset="utf-8"><title>mx camera: {{len .}} tiles</title>
<style>body { margin: 0; background: #15171c; display: grid; gap: 4px;
grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)) } img { width: 100%; display: block }</style>
{{range .}}<img src="/stream?tile={{.}}" alt="tile {{.}}">
{{end}}`))

// tiles writes a page with ?n= tiles of the stream (default 12). Each tile
// has its own URL, so that the browser opens one stream per tile.
func tiles(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > 64 {
		n = 12
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i + 1
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return tilesHTML.Execute(w, ids)
}

// browserURL returns the address as a URL a browser on this machine can
// open.
func browserURL(scheme string, a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
