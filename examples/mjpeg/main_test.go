package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/mxtest"
)

// app is this package built as a command. The tests run it as a process.
var app = mxtest.Binary{Pkg: "."}

func TestMain(m *testing.M) {
	mxtest.Main(m, &app)
}

// start runs a small, fast camera with extra flags and returns its URL.
func start(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"-fps", "20", "-size", "320x240", "-quality", "70"}, args...)
	return mxtest.Start(t, app.Path(t), args...).URL
}

func TestStream(t *testing.T) {
	t.Parallel()
	base := start(t)
	asked := time.Now()
	frames := mxtest.Frames(t, mxtest.Get(t, mxtest.Client(t), base+"/stream"), 8, true)
	mxtest.CheckIncreasing(t, frames)
	// The first part is the latest frame at connect: published one frame
	// interval before at most (2 s: a generous bound for a busy machine).
	if f := frames[0]; f.Stamp.Before(asked.Add(-2 * time.Second)) {
		t.Errorf("first part %v stamped %v before the request", f, asked.Sub(f.Stamp))
	}
	for _, f := range frames {
		if b := mxtest.DecodeJPEG(t, f.Part.Body).Bounds(); f.Counter < 1 || b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("%v: %dx%d, want 320x240 and a counter from 1", f, b.Dx(), b.Dy())
		}
	}
}

func TestFirstFrameIsOne(t *testing.T) {
	t.Parallel()
	base := start(t, "-fps", "0.01") // one frame now, the next in 100 s
	c := mxtest.Client(t)
	img := mxtest.DecodeJPEG(t, mxtest.ReadAll(t, mxtest.Get(t, c, base+"/snapshot")))
	if n, ok := mxtest.ReadCounter(img); !ok || n != 1 {
		t.Errorf("snapshot shows frame %d (found %v), want 1", n, ok)
	}
	if f := mxtest.Frames(t, mxtest.Get(t, c, base+"/stream"), 1, true)[0]; f.Counter != 1 {
		t.Errorf("stream starts with %v, want frame 1", f)
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	resp := mxtest.Get(t, mxtest.Client(t), start(t)+"/snapshot")
	body := mxtest.ReadAll(t, resp)
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "image/jpeg" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("snapshot: %s, header %v", resp.Status, h)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
	}
	mxtest.Timestamp(t, h.Get(core.TimestampHeader))
	img := mxtest.DecodeJPEG(t, body)
	if n, ok := mxtest.ReadCounter(img); !ok || n < 1 {
		t.Errorf("snapshot counter %d (found %v)", n, ok)
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	base := start(t)
	c := mxtest.Client(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{`<img src="/stream" alt="live stream" width="320" height="240">`, "320x240 JPEG", "20 fps", `href="/snapshot"`}},
		{"/?mx=length", []string{`<img src="/stream?mx=length"`, `href="/?mx=advance"`}},
		{"/?mx=ADVANCE", []string{`<img src="/stream?mx=advance"`}},
		{"/?mx=%22%3E", []string{`<img src="/stream" `}},
	} {
		resp := mxtest.Get(t, c, base+tc.path)
		body := string(mxtest.ReadAll(t, resp))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s: %s, %q", tc.path, resp.Status, resp.Header.Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in\n%s", tc.path, w, body)
			}
		}
	}
	if resp := mxtest.Get(t, c, base+"/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %s, want 404", resp.Status)
	}
}

// writeJPEGs writes test pattern frames into dir under the given names,
// in reverse order: neither creation nor modification time gives the
// name order. It returns their contents by name.
func writeJPEGs(t *testing.T, dir string, names ...string) map[string][]byte {
	files := map[string][]byte{}
	for i := len(names) - 1; i >= 0; i-- {
		b := mxtest.Pattern(t, 160, 120, uint64(100+i))
		if err := os.WriteFile(filepath.Join(dir, names[i]), b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[names[i]] = b
	}
	return files
}

func TestDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Name order (bytewise): A.JPG, b.jpeg, c.jpg, d.Jpeg.
	names := []string{"A.JPG", "b.jpeg", "c.jpg", "d.Jpeg"}
	files := writeJPEGs(t, dir, names...)
	for _, other := range []string{"notes.txt", "e.png", "z.jpg.bak"} {
		if err := os.WriteFile(filepath.Join(dir, other), []byte("not a frame"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.jpg"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := start(t, "-dir", dir)
	c := mxtest.Client(t)
	page := string(mxtest.ReadAll(t, mxtest.Get(t, c, base+"/")))
	if !strings.Contains(page, "4 JPEG files") || !strings.Contains(page, `width="160" height="120"`) {
		t.Errorf("page does not describe the 4 files of 160x120:\n%s", page)
	}

	frames := mxtest.Frames(t, mxtest.Get(t, c, base+"/stream"), 12, false)
	index := func(body []byte) int {
		for i, name := range names {
			if bytes.Equal(body, files[name]) {
				return i
			}
		}
		return -1
	}
	// Every part is one of the files, byte for byte. The files come in
	// name order (a viewer may skip one, never go back), in a loop.
	wraps := 0
	prev := index(frames[0].Part.Body)
	for i, f := range frames {
		k := index(f.Part.Body)
		if k < 0 {
			t.Fatalf("part %d (%d bytes) is none of the files", i, len(f.Part.Body))
		}
		if i == 0 {
			continue
		}
		if step := (k - prev + len(names)) % len(names); step == len(names)-1 {
			t.Errorf("part %d is %s after %s: out of name order", i, names[k], names[prev])
		}
		if k < prev {
			wraps++
		}
		prev = k
	}
	if wraps == 0 {
		t.Errorf("12 parts of 4 files never looped back to the first")
	}
}

// TestFlags: a bad command line exits 2 with a message; -h exits 0.
func TestFlags(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	bad := t.TempDir()
	writeJPEGs(t, bad, "1.jpg")
	if err := os.WriteFile(filepath.Join(bad, "2.jpg"), []byte("GIF89a"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-fps", "0"}, "-fps"},
		{[]string{"-fps", "NaN"}, "-fps"},
		{[]string{"-fps", "1001"}, "-fps"},
		{[]string{"-fps", "x"}, "-fps"},
		{[]string{"-size", "640"}, "-size"},
		{[]string{"-size", "64x48"}, "-size"},
		{[]string{"-quality", "0"}, "-quality"},
		{[]string{"-quality", "101"}, "-quality"},
		{[]string{"-user", "u"}, "-user"},
		{[]string{"-pass", "p"}, "-user"},
		{[]string{"-user", "a:b", "-pass", "p"}, "colon"},
		{[]string{"-allow-origin", "example.com"}, "-allow-origin"},
		{[]string{"-allow-origin", "https://example.com/path"}, "-allow-origin"},
		{[]string{"-dir", empty}, "no *.jpg or *.jpeg files in " + empty},
		{[]string{"-dir", bad}, "2.jpg is not a JPEG image"},
		{[]string{"-dir", filepath.Join(empty, "missing")}, "no such file or directory"},
		{[]string{"-bogus"}, "-bogus"},
	} {
		code, out := mxtest.Run(t, app.Path(t), tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d, output %q; want 2 and %q", tc.args, code, out, tc.want)
		}
	}
	if code, out := mxtest.Run(t, app.Path(t), "-h"); code != 0 || !strings.Contains(out, "-allow-origin") {
		t.Errorf("-h: exit %d, output %q; want 0 and the usage", code, out)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	mxtest.CheckAccess(t, start)
}

// TestSafe: the server is safe to expose, also with viewers that stopped
// reading big, fast frames.
func TestSafe(t *testing.T) {
	t.Parallel()
	mxtest.CheckSafeServer(t, &app, "/stream", "-fps", "30", "-size", "1280x720")
}

// TestTiles: /tiles has n tiles of the stream, each with its own URL, so
// that a browser opens one stream per tile.
func TestTiles(t *testing.T) {
	t.Parallel()
	base := start(t)
	c := mxtest.Client(t)
	for _, tc := range []struct {
		query string
		n     int
	}{{"", 12}, {"?n=3", 3}, {"?n=64", 64}, {"?n=0", 12}, {"?n=x", 12}, {"?n=65", 12}} {
		body := string(mxtest.ReadAll(t, mxtest.Get(t, c, base+"/tiles"+tc.query)))
		if got := strings.Count(body, `<img src="/stream?tile=`); got != tc.n {
			t.Errorf("/tiles%s: %d tiles, want %d", tc.query, got, tc.n)
		}
		if !strings.Contains(body, fmt.Sprintf(`src="/stream?tile=%d"`, tc.n)) {
			t.Errorf("/tiles%s: no tile %d", tc.query, tc.n)
		}
	}
}

// TestTLS: with -tls the camera serves HTTPS and HTTP/2 with a self-signed
// certificate, and prints an https:// URL.
func TestTLS(t *testing.T) {
	t.Parallel()
	base := start(t, "-tls")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("URL %q, want https://", base)
	}
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // self-signed
		ForceAttemptHTTP2: true,
	}}
	defer c.CloseIdleConnections()
	resp := mxtest.Get(t, c, base+"/stream")
	if resp.ProtoMajor != 2 {
		t.Errorf("stream over %s, want HTTP/2", resp.Proto)
	}
	mxtest.CheckIncreasing(t, mxtest.Frames(t, resp, 3, true))
	if code, out := mxtest.Run(t, app.Path(t), "-cert", "x.pem"); code != 2 || !strings.Contains(out, "-tls") {
		t.Errorf("-cert without -tls: exit %d, %q", code, out)
	}
}
