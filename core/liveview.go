package core

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

//go:embed liveview.js
var liveviewJS string

// LiveViewScript is a classic script (a few KB, no dependency) that defines
// the custom element <mx-stream src="URL">, a live view that heals itself:
//
//	<script src="/mx-stream.js"></script>
//	<mx-stream src="/stream" age></mx-stream>
//
// It shows the newest image part of the stream at URL in an <img>. It reads
// the stream with fetch and "Accept: multipart/mixed" (which Serve answers
// with the same parts, and which WebKit's fetch accepts), so it reads each
// part's headers. It reconnects, after 0.5 s doubling up to the "backoff"
// attribute (default 10000 ms), when the connection fails or no part came
// for the "stall" attribute's milliseconds (default 4 frame intervals, at
// least 2 s). It closes the connection as soon as the element leaves the
// document or the page is hidden, and reconnects when the page is shown.
// With the "age" attribute it shows each frame's age, now minus the
// part's X-Timestamp (see [Broadcaster.Timestamps]). It sets the
// properties frames, age and connected and fires "frame" (detail: headers
// and age), "connect" and "disconnect" events. A stream of another origin
// needs CORS (Access-Control-Allow-Origin) for fetch.
var LiveViewScript = "(() => {\n" + partsJS + liveviewJS + "})();\n"

var liveviewETag = func() string {
	h := sha256.Sum256([]byte(LiveViewScript))
	return `"` + hex.EncodeToString(h[:8]) + `"`
}()

// LiveViewHandler returns a handler that serves [LiveViewScript] as
// text/javascript, with an ETag, to GET and HEAD; other
// methods get 405.
func LiveViewHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", liveviewETag)
		http.ServeContent(w, r, "mx-stream.js", time.Time{}, strings.NewReader(LiveViewScript))
	})
}
