package core_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mxreplace/mx/core"
)

const (
	uaChrome  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
	uaSafari  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15"
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	acceptNav = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptImg = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
)

// The stream every client got before the viewer page existed, in length
// mode (see TestCurlSeesCleanEnd).
const lengthWire = "--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nfirst\r\n--B\r\n" +
	"Content-Type: text/html; charset=utf-8\r\nContent-Length: 13\r\n\r\n<h1>last</h1>\r\n--B\r\n" +
	"Content-Type: text/html; charset=utf-8\r\nContent-Length: 13\r\nMx-Final: repeat\r\n\r\n<h1>last</h1>\r\n--B--\r\n"

type negotiated struct {
	ct   string
	body string
}

func fetch(t testing.TB, opts *core.Options, method, path string, hdr ...string) negotiated {
	t.Helper()
	o := core.Options{Boundary: "B"}
	if opts != nil {
		o = *opts
		o.Boundary = "B"
	}
	srv := httptest.NewServer(core.Handler(partsSource(core.Text("first"), core.HTML("<h1>last</h1>")), &o))
	defer srv.Close()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	return negotiated{res.Header.Get("Content-Type"), string(b)}
}

// TestNegotiateStream: every client but a Chromium or WebKit top-level visit
// gets the stream, byte for byte as before; ?mx= overrides still work.
func TestNegotiateStream(t *testing.T) {
	advance := fetch(t, nil, "GET", "/?mx=advance").body
	if advance == lengthWire || !strings.HasPrefix(advance, "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst\r\n--B\r\n") {
		t.Fatalf("advance mode reference looks wrong: %q", advance)
	}
	for _, tc := range []struct {
		name string
		opts *core.Options
		path string
		hdr  []string
		want string
	}{
		{"go client", nil, "/", nil, lengthWire},
		{"curl", nil, "/", []string{"User-Agent", "curl/8.14.1", "Accept", "*/*"}, lengthWire},
		{"ffmpeg", nil, "/", []string{"User-Agent", "Lavf/59.27.100", "Accept", "*/*"}, lengthWire},
		{"firefox visit", nil, "/", []string{"User-Agent", uaFirefox, "Sec-Fetch-Dest", "document", "Accept", acceptNav}, lengthWire},
		{"chromium img", nil, "/", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "image", "Accept", acceptImg}, advance},
		{"safari img", nil, "/", []string{"User-Agent", uaSafari, "Sec-Fetch-Dest", "image", "Accept", acceptImg}, advance},
		{"chromium fetch", nil, "/", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "empty", "Accept", "*/*"}, advance},
		{"chromium visit ?mx=length", nil, "/?mx=length", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "document", "Accept", acceptNav}, lengthWire},
		{"chromium visit ?mx=stream", nil, "/?mx=stream", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "document", "Accept", acceptNav}, advance},
		{"chromium visit, PageOff", &core.Options{Page: core.PageOff}, "/", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "document", "Accept", acceptNav}, advance},
		{"mixed refused (q=0)", nil, "/", []string{"Accept", "multipart/mixed;q=0, */*"}, lengthWire},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fetch(t, tc.opts, "GET", tc.path, tc.hdr...)
			if got.ct != "multipart/x-mixed-replace; boundary=B" || got.body != tc.want {
				t.Errorf("got %s\n%q\nwant\n%q", got.ct, got.body, tc.want)
			}
		})
	}
}

// TestNegotiatePage: a Chromium or WebKit top-level visit gets the viewer
// page, a few KB of HTML that reads the same URL as multipart/mixed.
func TestNegotiatePage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *core.Options
		path string
		hdr  []string
	}{
		{"chromium", nil, "/", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "document", "Accept", acceptNav}},
		{"safari", nil, "/", []string{"User-Agent", uaSafari, "Sec-Fetch-Dest", "document", "Accept", acceptNav}},
		{"chromium iframe", nil, "/", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "iframe", "Accept", acceptNav}},
		{"chromium, no Sec-Fetch (LAN over http)", nil, "/", []string{"User-Agent", uaChrome, "Accept", acceptNav}},
		{"firefox, PageAlways", &core.Options{Page: core.PageAlways}, "/", []string{"User-Agent", uaFirefox, "Sec-Fetch-Dest", "document", "Accept", acceptNav}},
		{"?mx=page", nil, "/?mx=page", nil},
		{"?mx=page, PageOff", &core.Options{Page: core.PageOff}, "/?mx=page", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fetch(t, tc.opts, "GET", tc.path, tc.hdr...)
			if got.ct != "text/html; charset=utf-8" || !strings.Contains(got.body, "<script>") ||
				!strings.Contains(got.body, `Accept: "multipart/mixed"`) {
				t.Fatalf("got %s %.200q, want the viewer page", got.ct, got.body)
			}
			if len(got.body) > 8<<10 {
				t.Errorf("viewer page is %d bytes, want a few KB", len(got.body))
			}
		})
	}
	head := fetch(t, nil, "HEAD", "/", "User-Agent", uaChrome, "Sec-Fetch-Dest", "document")
	if head.ct != "text/html; charset=utf-8" || head.body != "" {
		t.Errorf("HEAD: got %s %q", head.ct, head.body)
	}
}

// TestNegotiateMixed: a client that asks for multipart/mixed gets the same
// parts, framed as in length mode, under that media type.
func TestNegotiateMixed(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		hdr  []string
	}{
		{"fetch", "/", []string{"Accept", "multipart/mixed"}},
		{"htmx hx-multipart", "/", []string{"Accept", "text/html, multipart/mixed, multipart/parallel"}},
		{"chromium fetch", "/", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "empty", "Accept", "multipart/mixed"}},
		{"visit with ?mx=page", "/?mx=page", []string{"User-Agent", uaChrome, "Sec-Fetch-Dest", "empty", "Accept", "multipart/mixed"}},
		{"?mx=mixed", "/?mx=mixed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fetch(t, nil, "GET", tc.path, tc.hdr...)
			if got.ct != "multipart/mixed; boundary=B" || got.body != lengthWire {
				t.Errorf("got %s\n%q\nwant multipart/mixed; boundary=B\n%q", got.ct, got.body, lengthWire)
			}
		})
	}
}

// FuzzNegotiate sends Serve any request headers and ?mx= value a client
// may: it answers 200 with the viewer page, the stream or multipart/mixed,
// and a stream is always one of the two wires, byte for byte.
func FuzzNegotiate(f *testing.F) {
	f.Add("", "", "", "")
	f.Add(uaChrome, "document", acceptNav, "")
	f.Add(uaSafari, "image", acceptImg, "advance")
	f.Add(uaFirefox, "document", acceptNav, "page")
	f.Add("curl/8.14.1", "", "multipart/mixed;q=0.5, */*", "")
	f.Add("", "empty", "multipart/mixed;q=x", "mixed")
	f.Add(uaChrome, "", "text/html", "STREAM")
	advance := fetch(f, nil, "GET", "/?mx=advance").body
	h := core.Handler(partsSource(core.Text("first"), core.HTML("<h1>last</h1>")), &core.Options{Boundary: "B"})
	f.Fuzz(func(t *testing.T, ua, dest, accept, mx string) {
		r := httptest.NewRequest("GET", "/?"+url.Values{"mx": {mx}}.Encode(), nil)
		r.Header.Set("User-Agent", ua)
		r.Header.Set("Sec-Fetch-Dest", dest)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		ct, body := w.Header().Get("Content-Type"), w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		switch ct {
		case "text/html; charset=utf-8":
			if !strings.Contains(body, "<script>") {
				t.Fatalf("page without its script: %q", body)
			}
		case core.MixedType + "; boundary=B":
			if body != lengthWire {
				t.Fatalf("multipart/mixed: %q", body)
			}
		case core.MediaType + "; boundary=B":
			if body != lengthWire && body != advance {
				t.Fatalf("stream: %q", body)
			}
		default:
			t.Fatalf("Content-Type %q", ct)
		}
	})
}
