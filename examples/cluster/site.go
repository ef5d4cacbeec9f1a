package main

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"strconv"

	"github.com/mxreplace/mx/core"
)

// A site is one HTTP listener's app: an origin or an edge.
type site struct {
	name string
	mux  *http.ServeMux
	end  func(context.Context) error // ends its streams cleanly
}

// newSite routes GET /, /stream, /snapshot and /mx-stream.js for one
// origin or edge.
func newSite(name, subject string, src core.Source, snapshot http.Handler, end func(context.Context) error) site {
	mux := http.NewServeMux()
	page := fmt.Sprintf(pageHTML, html.EscapeString(subject), name, html.EscapeString(subject))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		fmt.Fprint(w, page)
	})
	mux.Handle("GET /stream", core.Handler(src, nil))
	mux.Handle("GET /snapshot", snapshot)
	mux.Handle("GET /mx-stream.js", core.LiveViewHandler())
	return site{name: name, mux: mux, end: end}
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mx cluster: %s</title>
<style>body{margin:0;background:#15171c;color:#d8dce4;font:15px/1.5 system-ui,sans-serif}
mx-stream{display:block;max-width:100%%;background:#000}p{margin:8px 16px}a{color:#7cc4ff}</style>
<script src="/mx-stream.js"></script></head>
<body><mx-stream src="/stream" age><noscript><img src="/stream" alt="live stream"></noscript></mx-stream><p>mx cluster, %s of NATS subject %s:
<a href="/stream">/stream</a> the stream alone · <a href="/snapshot">/snapshot</a> the latest frame</p></body></html>
`

// nextAddr returns addr with its port moved up by i (port 0 stays 0).
func nextAddr(addr string, i int) string {
	host, port, err := net.SplitHostPort(addr)
	if p, perr := strconv.Atoi(port); err == nil && perr == nil && p != 0 {
		return net.JoinHostPort(host, strconv.Itoa(p+i))
	}
	return addr
}

// pageURL is the URL a browser can open for a listener on addr.
func pageURL(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
