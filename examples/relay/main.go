// Command relay re-serves one upstream MJPEG stream to any number of
// viewers, on gin, over one upstream connection.
//
//	go run ./examples/relay -upstream URL [-addr :8080] [-timeout 10s]
//	                        [-types image/jpeg] [-user U -pass P] [-allow-origin ORIGIN]
//
// Each image/jpeg part of the upstream stream is published to a
// core.Broadcaster, which serves:
//
//	GET /          a page showing the stream in an <img>
//	GET /stream    the stream: the upstream's frames, byte for byte, with
//	               Content-Length and the relay's X-Timestamp
//	GET /snapshot  the latest frame as one response
//
// The relay re-serves images only, whatever the upstream says. A part
// whose Content-Type is not exactly one allowed type is dropped, and so is
// a body that does not look like that type. -types widens the set to
// other raster types (image/png, image/gif, image/webp), never SVG or
// text. A body that holds the stream's delimiter is dropped too. Each kind
// of drop is logged once.
//
// When the upstream fails, ends, or sends nothing for -timeout, the relay
// reconnects with backoff: 250 ms doubling to 10 s, back to 250 ms once a
// frame arrives. Viewers stay connected and get the last frame again
// every second meanwhile.
//
// With -user and -pass every route needs HTTP Basic auth. -allow-origin
// adds CORS headers for one origin, or for all with "*". SIGINT and
// SIGTERM end every open stream cleanly, and the process exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/ginmx"
)

// rasterTypes are the types -types may name: raster images, which a
// browser never runs as a document or script.
var rasterTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

func main() {
	addr := flag.String("addr", ":8080", "listen on `host:port`")
	upstream := flag.String("upstream", "", "the stream to relay, an http(s) `URL` such as http://camera:8080/stream (required)")
	timeout := flag.Duration("timeout", 10*time.Second, "reconnect when the upstream takes longer than this to connect, answer or send the next part")
	types := flag.String("types", "image/jpeg", "the part `types` to re-serve, comma-separated, from "+strings.Join(rasterTypes, ", "))
	user := flag.String("user", "", "require HTTP Basic auth as `name` (with -pass)")
	pass := flag.String("pass", "", "HTTP Basic auth `password` (with -user)")
	origin := flag.String("allow-origin", "", "allow CORS from `ORIGIN`, such as https://example.com, or *")
	flag.Parse()

	up, err := url.Parse(*upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		fail("-upstream %q: want the http:// or https:// URL of an MJPEG stream", *upstream)
	}
	if *timeout <= 0 {
		fail("-timeout %v: want more than 0", *timeout)
	}
	allowed := strings.Split(*types, ",")
	for _, t := range allowed {
		if !slices.Contains(rasterTypes, t) {
			fail("-types: %q is not one of %s", t, strings.Join(rasterTypes, ", "))
		}
	}
	checkAccess(*user, *pass, *origin)
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode) // no route dump; GIN_MODE=debug for one
	}

	// One Broadcaster for all viewers: X-Timestamp on every part, the
	// latest frame again after a second without a new one, and no
	// upstream repeats.
	b := &core.Broadcaster{Timestamps: true, IdleRepeat: time.Second, DropRepeats: true}

	r := gin.New()
	r.Use(gin.Recovery())
	if *origin != "" { // before auth: a preflight carries no credentials
		r.Use(cors.New(cors.Config{
			AllowOrigins:     []string{strings.TrimSuffix(*origin, "/")},
			AllowMethods:     []string{http.MethodGet, http.MethodHead, http.MethodOptions},
			AllowHeaders:     []string{"Authorization"},
			ExposeHeaders:    []string{"Content-Length", core.TimestampHeader},
			AllowCredentials: *user != "" && *origin != "*",
		}))
	}
	if *user != "" {
		r.Use(gin.BasicAuthForRealm(gin.Accounts{*user: *pass}, "mx"))
	}
	page := func(c *gin.Context) { writePage(c.Writer, c.Request, up.Redacted()) }
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r.Handle(method, "/", page)
		r.Handle(method, "/stream", ginmx.Stream(b.Subscribe))
		r.Handle(method, "/snapshot", gin.WrapH(b.SnapshotHandler()))
	}

	// SIGINT and SIGTERM end ctx: the upstream connection closes, and Run
	// ends every open stream cleanly. A second signal kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	rl := newRelay(*upstream, up.Redacted(), *timeout, allowed, b)
	go rl.run(ctx)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mx relay listening on %s\n", browserURL(ln.Addr()))
	// NewServer sets timeouts and header limits that are safe to expose.
	if err := core.Run(ctx, core.NewServer(*addr, r), ln); err != nil {
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

// fail reports a bad command line and exits with status 2, like the flag
// package.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "relay: "+format+"\n", args...)
	os.Exit(2)
}

var pageHTML = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8"><title>mx relay</title>
<style>body { margin: 0; background: #15171c; color: #d8dce4; font: 15px system-ui }
img { display: block } p { margin: 8px 16px } a { color: #7cc4ff }</style>
<img src="/stream{{with .Mode}}?mx={{.}}{{end}}" alt="live stream">
<p>Relaying {{.Upstream}} over one upstream connection, whatever the number of viewers.
<p><a href="/snapshot">/snapshot</a> the latest frame ·
wire mode: <a href="/">auto</a> · <a href="/?mx=advance">advance</a> · <a href="/?mx=length">length</a>
`))

// writePage writes the HTML page. Its ?mx= wire mode, if valid, goes on to
// the stream.
func writePage(w http.ResponseWriter, r *http.Request, upstream string) {
	mode := r.URL.Query().Get(core.ModeParam)
	if m, err := core.ParseMode(mode); err != nil || m == core.ModeAuto {
		mode = ""
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageHTML.Execute(w, map[string]string{"Mode": strings.ToLower(mode), "Upstream": upstream})
}

// browserURL returns the address as a URL a browser on this machine can
// open.
func browserURL(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
