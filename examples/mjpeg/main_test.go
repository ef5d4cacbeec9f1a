package main

import (
	"bytes"
	"errors"
	"image/jpeg"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/liveapp"
	"github.com/mxreplace/mx/internal/liveapp/livetest"
	"github.com/mxreplace/mx/internal/testpattern"
)

// app is this package built as a command, for the tests with real clients.
var app = livetest.Binary{Pkg: "github.com/mxreplace/mx/examples/mjpeg"}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		app.Remove()
		os.Exit(code)
	}))
}

// testConfig is a small, fast camera.
func testConfig(t *testing.T) config {
	return config{FPS: 20, Width: 320, Height: 240, Quality: 70, Logger: log.New(testWriter{t}, "", 0)}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// startApp runs the app in-process on a loopback server and returns its
// base URL. At cleanup the Broadcaster shuts down (ending every stream
// cleanly), then the server and the producer.
func startApp(t *testing.T, cfg config) (string, *core.Broadcaster) {
	t.Helper()
	h, cam, stop, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return livetest.Serve(t, h, cam, stop), cam
}

func TestStream(t *testing.T) {
	t.Parallel()
	base, cam := startApp(t, testConfig(t))
	start := time.Now()
	resp := livetest.Get(t, livetest.Context(t), livetest.Client(t), base+"/stream")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/x-mixed-replace; boundary=") {
		t.Fatalf("Content-Type %q", ct)
	}
	frames := livetest.Frames(t, resp, 8, true)
	livetest.CheckIncreasing(t, frames)
	// The first part is the latest frame at connect, published one frame
	// interval before at most (2 s: a generous bound for a busy machine).
	if f := frames[0]; f.Stamp.Before(start.Add(-2 * time.Second)) {
		t.Errorf("first part %v stamped %v before the request", f, start.Sub(f.Stamp))
	}
	for _, f := range frames {
		if f.Counter < 1 {
			t.Errorf("%v: counters start at 1", f)
		}
		img := livetest.DecodeJPEG(t, f.Part.Body)
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("%v: %dx%d, want 320x240", f, b.Dx(), b.Dy())
		}
	}
	if s := cam.Stats(); s.Viewers != 1 || s.Published < frames[len(frames)-1].Counter {
		t.Errorf("Stats %+v after reading up to %v", s, frames[len(frames)-1])
	}
}

func TestFirstFrameIsOne(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.FPS = 0.01 // one frame now, the next in 100 s
	base, _ := startApp(t, cfg)
	c := livetest.Client(t)
	resp := livetest.Get(t, livetest.Context(t), c, base+"/snapshot")
	img := livetest.DecodeJPEG(t, livetest.ReadAll(t, resp))
	if n, ok := testpattern.ReadCounter(img); !ok || n != 1 {
		t.Errorf("snapshot shows frame %d (found %v), want 1", n, ok)
	}
	resp = livetest.Get(t, livetest.Context(t), c, base+"/stream")
	if f := livetest.Frames(t, resp, 1, true)[0]; f.Counter != 1 {
		t.Errorf("stream starts with %v, want frame 1", f)
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	base, _ := startApp(t, testConfig(t))
	resp := livetest.Get(t, livetest.Context(t), livetest.Client(t), base+"/snapshot")
	body := livetest.ReadAll(t, resp)
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "image/jpeg" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("snapshot: %s, header %v", resp.Status, h)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
	}
	livetest.Timestamp(t, h.Get(core.TimestampHeader))
	img := livetest.DecodeJPEG(t, body)
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Errorf("snapshot is %dx%d, want 320x240", b.Dx(), b.Dy())
	}
	if n, ok := testpattern.ReadCounter(img); !ok || n < 1 {
		t.Errorf("snapshot counter %d (found %v)", n, ok)
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	base, _ := startApp(t, testConfig(t))
	ctx, c := livetest.Context(t), livetest.Client(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{`<img src="/stream" alt="live stream" width="320" height="240">`, "320x240 JPEG", "20 fps", `href="/snapshot"`, "<b>auto</b>"}},
		{"/?mx=length", []string{`<img src="/stream?mx=length"`, "<b>length</b>", `href="/?mx=advance"`}},
		{"/?mx=advance", []string{`<img src="/stream?mx=advance"`, "<b>advance</b>"}},
		{"/?mx=bogus", []string{`<img src="/stream" `, "<b>auto</b>"}},
	} {
		resp := livetest.Get(t, ctx, c, base+tc.path)
		body := string(livetest.ReadAll(t, resp))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s: %s, %q", tc.path, resp.Status, resp.Header.Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in\n%s", tc.path, w, body)
			}
		}
	}
	resp := livetest.Get(t, ctx, c, base+"/nope")
	livetest.ReadAll(t, resp)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %s, want 404", resp.Status)
	}
}

// writeJPEGs writes test pattern frames into dir under the given names, in
// reverse order (so that neither creation nor modification time gives
// the name order), and returns their contents by name.
func writeJPEGs(t *testing.T, dir string, names ...string) map[string][]byte {
	files := map[string][]byte{}
	for i := len(names) - 1; i >= 0; i-- {
		b := livetest.Pattern(t, 160, 120, uint64(100+i))
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
	cfg := testConfig(t)
	cfg.Dir = dir
	base, _ := startApp(t, cfg)
	ctx, c := livetest.Context(t), livetest.Client(t)

	page := string(livetest.ReadAll(t, livetest.Get(t, ctx, c, base+"/")))
	if !strings.Contains(page, "4 JPEG files") || !strings.Contains(page, `width="160" height="120"`) {
		t.Errorf("page does not describe the 4 files of 160x120:\n%s", page)
	}

	resp := livetest.Get(t, ctx, c, base+"/stream")
	frames := livetest.Frames(t, resp, 12, false)
	index := func(body []byte) int {
		for i, name := range names {
			if bytes.Equal(body, files[name]) {
				return i
			}
		}
		return -1
	}
	// Every part is one of the files, byte for byte; the files come in name
	// order (a viewer may skip a frame, but never goes back), and the loop
	// wraps around.
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
		step := (k - prev + len(names)) % len(names)
		if step == len(names)-1 {
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

func TestDirErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("no frames"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	writeJPEGs(t, bad, "1.jpg")
	if err := os.WriteFile(filepath.Join(bad, "2.jpg"), []byte("GIF89a"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"no JPEG files", empty, "no *.jpg or *.jpeg files in " + empty},
		{"not a JPEG", bad, "2.jpg is not a JPEG image"},
		{"missing", filepath.Join(empty, "missing"), "no such file or directory"},
	} {
		cfg := testConfig(t)
		cfg.Dir = tc.dir
		_, _, _, err := newApp(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: newApp: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Addr: ":8080", FPS: 10, Width: 640, Height: 480, Quality: 75}
	if cfg != want {
		t.Errorf("defaults %+v, want %+v", cfg, want)
	}
	cfg, err = parseFlags([]string{"-fps", "0.5", "-size", "320X240", "-quality", "90", "-addr", "127.0.0.1:0",
		"-user", "u", "-pass", "p", "-allow-origin", "http://localhost:3000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = config{Addr: "127.0.0.1:0", FPS: 0.5, Width: 320, Height: 240, Quality: 90,
		Access: liveapp.Access{User: "u", Pass: "p", AllowOrigin: "http://localhost:3000"}}
	if cfg != want || cfg.interval() != 2*time.Second {
		t.Errorf("got %+v (interval %v), want %+v (2s)", cfg, cfg.interval(), want)
	}
	if cfg, err := parseFlags([]string{"-dir", "/x", "-size", "1x1", "-quality", "0"}, io.Discard); err != nil || cfg.Dir != "/x" {
		t.Errorf("-dir ignores -size and -quality: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"-fps", "0"},
		{"-fps", "-1"},
		{"-fps", "NaN"},
		{"-fps", "1001"},
		{"-fps", "x"},
		{"-size", "640"},
		{"-size", "64x48"},
		{"-quality", "0"},
		{"-quality", "101"},
		{"-user", "u"},
		{"-pass", "p"},
		{"-user", "a:b", "-pass", "p"},
		{"-allow-origin", "example.com"},
		{"-allow-origin", "https://example.com/path"},
		{"-bogus"},
		{"extra"},
	} {
		_, err := parseFlags(args, io.Discard)
		var fe *liveapp.FlagError
		if !errors.As(err, &fe) {
			t.Errorf("%q: error %v, want a *liveapp.FlagError", args, err)
		}
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	livetest.CheckAccess(t, func(t *testing.T, a liveapp.Access) string {
		cfg := testConfig(t)
		cfg.Access = a
		base, _ := startApp(t, cfg)
		return base
	})
}

// TestShutdown checks that Broadcaster.Shutdown ends an open stream
// cleanly: Read sees the close delimiter, not a cut connection.
func TestShutdown(t *testing.T) {
	t.Parallel()
	h, cam, stop, err := newApp(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer stop()
	resp := livetest.Get(t, livetest.Context(t), livetest.Client(t), srv.URL+"/stream")
	parts := 0
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			t.Fatalf("after %d parts: %v", parts, err)
		}
		if _, err := jpeg.Decode(bytes.NewReader(p.Body)); err != nil {
			t.Fatalf("part %d: %v", parts, err)
		}
		if parts++; parts == 2 {
			stop()
			if err := cam.Shutdown(livetest.Context(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if parts < 2 {
		t.Fatalf("%d parts", parts)
	}
	if s := cam.Stats(); s.Viewers != 0 {
		t.Errorf("%d viewers after Shutdown", s.Viewers)
	}
}
