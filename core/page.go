package core

import (
	_ "embed"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// MixedType is the media type of a stream sent to a client that asks for
// it in Accept: the same parts, framed as in [ModeLength].
const MixedType = "multipart/mixed"

// PagePolicy decides what a browser's top-level visit to a stream gets
// (see [Options.Page]).
type PagePolicy int

const (
	// PageAuto sends the viewer page to Chromium and WebKit browsers (a
	// User-Agent with "AppleWebKit/" and not "Firefox/") and the stream to
	// everyone else. Chromium shows no document part of a
	// multipart/x-mixed-replace document, and WebKit shows each one late
	// (only once the next part's header block has come) and paints nothing
	// of a small one until more bytes come.
	PageAuto PagePolicy = iota
	// PageOff always sends the stream.
	PageOff
	// PageAlways sends the viewer page to every browser's top-level visit,
	// Firefox included.
	PageAlways
)

// The values of the query parameter [ModeParam] that choose a
// representation rather than a wire mode: ?mx=page (the viewer page, for
// any GET), ?mx=stream (the stream, in the mode ModeFor picks) and
// ?mx=mixed (the stream as multipart/mixed). ?mx=length and ?mx=advance
// also mean the stream.
const (
	ParamPage   = "page"
	ParamStream = "stream"
	ParamMixed  = "mixed"
)

//go:embed parts.js
var partsJS string

//go:embed page.js
var pageJS string

// viewerPage is the page sent instead of a stream: a few KB, no external
// file. Its script fetches the same URL with "Accept: multipart/mixed" and
// shows each part once it is complete.
var viewerPage = `<!doctype html><meta charset="utf-8"><meta name="color-scheme" content="light dark"><title></title><script>
(() => {
` + partsJS + pageJS + `})();
</script>
`

// negotiate picks the representation of a stream for r. It answers a
// top-level browser visit with the viewer page itself (done is true), and
// returns the writer to stream to: w, or for a client that asked for
// multipart/mixed, a wrapper that sends that media type (and o.Mode is set
// to ModeLength).
func negotiate(w http.ResponseWriter, r *http.Request, o *Options) (_ http.ResponseWriter, done bool) {
	q := r.URL.Query().Get(ModeParam)
	if q == ParamMixed || acceptsMixed(r.Header.Values("Accept")) {
		o.Mode = ModeLength
		w.Header().Add("Vary", "Accept")
		return &mixedWriter{ResponseWriter: w}, false
	}
	page := q == ParamPage
	if q == "" && o.Page != PageOff && navigation(r) {
		page = o.Page == PageAlways || blinkOrWebKit(r.UserAgent())
	}
	if !page {
		return w, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept, Sec-Fetch-Dest, User-Agent")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte(viewerPage))
	}
	return w, true
}

// navigation reports whether r loads a document: Sec-Fetch-Dest says so, or,
// where it is not sent (older browsers; Chromium sends it only to secure
// origins and localhost), Accept names text/html first.
func navigation(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "document", "iframe", "frame":
		return true
	case "":
		return strings.HasPrefix(r.Header.Get("Accept"), "text/html")
	}
	return false
}

// blinkOrWebKit reports whether ua is a Chromium or WebKit browser's.
func blinkOrWebKit(ua string) bool {
	return strings.Contains(ua, "AppleWebKit/") && !strings.Contains(ua, "Firefox/")
}

// acceptsMixed reports whether an Accept header names multipart/mixed with a
// quality above 0 (wildcards do not count).
func acceptsMixed(accept []string) bool {
	for _, a := range accept {
		for _, r := range strings.Split(a, ",") {
			mt, params, err := mime.ParseMediaType(r)
			if err != nil || mt != MixedType {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// mixedWriter sends a multipart/x-mixed-replace response as multipart/mixed.
type mixedWriter struct {
	http.ResponseWriter
	wrote bool
}

func (m *mixedWriter) WriteHeader(code int) {
	if !m.wrote {
		m.wrote = true
		h := m.ResponseWriter.Header()
		if ct := h.Get("Content-Type"); strings.HasPrefix(ct, MediaType) {
			h.Set("Content-Type", MixedType+ct[len(MediaType):])
		}
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *mixedWriter) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusOK)
	}
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (m *mixedWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }
