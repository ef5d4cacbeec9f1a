package liveapp

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"

	"github.com/mxreplace/mx/core"
)

// Page is the HTML page of a live app: the stream in an <img> at the top
// left (display:block, no margin, so a screenshot finds the frame at a known
// place), then a title, a few facts and links. The page forwards its own
// ?mx= query parameter (see core.ModeFor) to the stream, so /?mx=length
// shows the stream in length mode.
type Page struct {
	// Title is the page title and heading.
	Title string
	// Width and Height are the frame size in pixels, given to the <img> so
	// the layout does not move when the first frame arrives. 0: unknown.
	Width, Height int
	// Facts are short lines shown under the heading, such as
	// "640x480 JPEG at 10 fps".
	Facts []string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
html, body { margin: 0; background: #15171c; color: #d8dce4; font: 15px/1.5 system-ui, sans-serif; }
img { display: block; margin: 0; max-width: 100%; height: auto; background: #000; }
main { padding: 10px 16px 16px; max-width: 60em; }
h1 { font-size: 18px; margin: 0 0 4px; font-weight: 600; }
p { margin: 4px 0; }
a { color: #7cc4ff; }
.dim { color: #8a93a6; }
b { color: #fff; font-weight: 600; }
</style>
</head>
<body>
<img src="{{.Stream}}" alt="live stream"{{if .Width}} width="{{.Width}}" height="{{.Height}}"{{end}}>
<main>
<h1>{{.Title}}</h1>
{{range .Facts}}<p>{{.}}</p>
{{end}}<p><a href="{{.Stream}}">{{.Stream}}</a> the stream alone
 · <a href="` + SnapshotPath + `">` + SnapshotPath + `</a> the latest frame as one JPEG</p>
<p class="dim">Wire mode: {{range $i, $m := .Modes}}{{if $i}} · {{end}}{{if $m.Current}}<b>{{$m.Name}}</b>{{else}}<a href="{{$m.Href}}">{{$m.Name}}</a>{{end}}{{end}}
 (auto: advance headers for Chromium and Safari, which otherwise show each frame one late; length for everyone else)</p>
</main>
</body>
</html>
`))

type pageMode struct {
	Name, Href string
	Current    bool
}

// ServeHTTP writes the page. The ?mx= parameter, when it names a mode, is
// passed on to the stream URL; other values are ignored.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	current := "auto"
	if m, err := core.ParseMode(r.URL.Query().Get(core.ModeParam)); err == nil {
		current = m.String()
	}
	stream := StreamPath
	if current != "auto" {
		stream += "?" + core.ModeParam + "=" + current
	}
	var modes []pageMode
	for _, m := range []core.Mode{core.ModeAuto, core.ModeAdvance, core.ModeLength} {
		href := PagePath
		if m != core.ModeAuto {
			href += "?" + core.ModeParam + "=" + m.String()
		}
		modes = append(modes, pageMode{Name: m.String(), Href: href, Current: m.String() == current})
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		*Page
		Stream string
		Modes  []pageMode
	}{p, stream, modes})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}
