package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// redPage is an ordinary HTML page: a red 200x100 box at the top left of a
// white page, followed by some text.
const redPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>red</title></head>
<body style="margin:0;background:#fff">
<div style="width:200px;height:100px;background:#f00"></div>
<p>hello from mx</p>
</body></html>`

// servePage serves page at / of a new loopback test server.
func servePage(t *testing.T, page string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// checkPixel fails the test unless the PNG's pixel (x, y) is close to the
// given 8-bit color.
func checkPixel(t *testing.T, pngData []byte, x, y int, want [3]uint8) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatalf("decoding PNG: %v", err)
	}
	if !(image.Point{x, y}.In(img.Bounds())) {
		t.Fatalf("pixel (%d,%d) outside image bounds %v", x, y, img.Bounds())
	}
	r, g, b, _ := img.At(x, y).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	for i := range got {
		if d := got[i] - int(want[i]); d < -16 || d > 16 {
			t.Fatalf("pixel (%d,%d) of %v image = rgb%v, want about rgb%v", x, y, img.Bounds().Size(), got, want)
		}
	}
}

// Colors expected in screenshots.
var (
	red   = [3]uint8{255, 0, 0}
	white = [3]uint8{255, 255, 255}
)

// TestChromiumScreenshot takes a screenshot of an ordinary page and checks
// its colors.
func TestChromiumScreenshot(t *testing.T) {
	Chromium(t)
	srv := servePage(t, redPage)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out := filepath.Join(t.TempDir(), "shot.png")
	start := time.Now()
	if err := ChromiumScreenshot(ctx, srv.URL+"/", out, 400, 300, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot took %v", time.Since(start).Round(time.Millisecond))
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkPixel(t, data, 100, 50, red)
	checkPixel(t, data, 300, 200, white)
}

// TestChromiumScreenshotLiveStream takes a screenshot of a
// multipart/x-mixed-replace stream of PNG images that never ends: --timeout
// makes Chromium take it anyway.
//
// Chromium shows multipart/x-mixed-replace top-level documents as images,
// centered on a dark background (HTML parts show as a broken image), and
// shows a part only once the header block of the next part has arrived, so
// the stream keeps sending frames.
func TestChromiumScreenshotLiveStream(t *testing.T) {
	Chromium(t)
	frame := solidPNG(t, 200, 100, color.RGBA{255, 0, 0, 255})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=B")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "--B\r\n")
		for {
			fmt.Fprintf(w, "Content-Type: image/png\r\nContent-Length: %d\r\n\r\n%s\r\n--B\r\n", len(frame), frame)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out := filepath.Join(t.TempDir(), "shot.png")
	start := time.Now()
	if err := ChromiumScreenshot(ctx, srv.URL+"/", out, 400, 300, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot took %v", time.Since(start).Round(time.Millisecond))
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkPixel(t, data, 200, 150, red) // the centered image
	checkPixel(t, data, 20, 20, [3]uint8{14, 14, 14})
}

// solidPNG returns a w x h PNG image of color c.
func solidPNG(t *testing.T, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestChromiumScreenshotCancel checks that Chromium is killed when ctx ends
// before the screenshot is taken.
func TestChromiumScreenshotCancel(t *testing.T) {
	Chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<p>loading")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ChromiumScreenshot(ctx, srv.URL+"/", filepath.Join(t.TempDir(), "x.png"), 100, 100, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ChromiumScreenshot past its ctx deadline: err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("ChromiumScreenshot returned %v after start, long after its ctx deadline", d)
	}
	t.Logf("error after %v: %v", time.Since(start).Round(time.Millisecond), err)

	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := ChromiumScreenshot(cancelled, srv.URL+"/", filepath.Join(t.TempDir(), "x.png"), 100, 100, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("ChromiumScreenshot with canceled ctx: err = %v, want context.Canceled", err)
	}
}

// TestLookPathMissing checks the error for a browser that is not installed.
func TestLookPathMissing(t *testing.T) {
	_, err := lookPath([]string{"no-such-browser-for-mx-tests"})
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("lookPath of a missing browser: err = %v, want exec.ErrNotFound", err)
	}
}

// startFirefox starts Firefox for the test and makes sure it, and every
// process of its group, is gone when the test ends.
func startFirefox(t *testing.T) *Marionette {
	t.Helper()
	Firefox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	m, err := StartFirefox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("firefox started and session created in %v", time.Since(start).Round(time.Millisecond))
	pgid, dir := m.cmd.Process.Pid, m.dir
	t.Cleanup(func() {
		start := time.Now()
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		t.Logf("firefox closed in %v", time.Since(start).Round(time.Millisecond))
		if groupAlive(pgid) {
			t.Errorf("process group %d still has live processes after Close", pgid)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary directory %s still exists after Close (%v)", dir, err)
		}
	})
	return m
}

// pollText polls the page text until it contains want, and returns it.
// pollText reads the page text until it contains want or wait has passed.
// Each read runs under ctx, not under wait: a Marionette call cut short by
// a deadline would leave the connection unusable for the next test.
func pollText(ctx context.Context, m *Marionette, want string, wait time.Duration) (string, error) {
	var text string
	var err error
	give := time.After(wait)
	for {
		text, err = m.PageText(ctx)
		if err == nil && strings.Contains(text, want) {
			return text, nil
		}
		select {
		case <-give:
			return text, fmt.Errorf("page text never contained %q within %v: last text %q, last error %v", want, wait, text, err)
		case <-ctx.Done():
			return text, fmt.Errorf("page text never contained %q: last text %q, last error %v", want, text, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestFirefox runs the Firefox tests on one Firefox instance, since starting
// Firefox takes a few seconds.
func TestFirefox(t *testing.T) {
	m := startFirefox(t)
	t.Run("HTML", func(t *testing.T) { testFirefoxHTML(t, m) })
	t.Run("Multipart", func(t *testing.T) { testFirefoxMultipart(t, m) })
}

// testFirefoxHTML checks navigation, page text, scripts and screenshots on
// an ordinary HTML page.
func testFirefoxHTML(t *testing.T, m *Marionette) {
	srv := servePage(t, redPage)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := m.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	text, err := pollText(ctx, m, "hello from mx", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(text); got != "hello from mx" {
		t.Errorf("PageText = %q, want %q", got, "hello from mx")
	}
	// With the "none" page load strategy, wait for the load to complete
	// before taking the screenshot.
	for {
		v, err := m.ExecuteScript(ctx, `return document.readyState`)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) == `"complete"` {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	v, err := m.ExecuteScript(ctx, `return arguments[0] + arguments[1]`, 40, 2)
	if err != nil || string(v) != "42" {
		t.Errorf("ExecuteScript(arguments[0] + arguments[1], 40, 2) = %s, %v; want 42", v, err)
	}
	_, err = m.ExecuteScript(ctx, `throw new Error("boom")`)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Code != "javascript error" || !strings.Contains(ce.Message, "boom") {
		t.Errorf("ExecuteScript(throw) error = %v, want a javascript error CommandError", err)
	}

	shot, err := m.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkPixel(t, shot, 100, 50, red)
	checkPixel(t, shot, 300, 200, white)
}

// testFirefoxMultipart checks that Firefox shows each part of a
// multipart/x-mixed-replace stream in turn, replacing the previous one.
//
// Firefox 153esr shows nothing of a stream whose first part is as tiny as
// <h1>one</h1> (fewer than 14 bytes of body) until more bytes arrive after
// it, so the first case only requires that the last part ends up shown,
// while the second, with ordinary HTML documents as parts, also requires
// the first part to be shown while the stream is held open after it.
func testFirefoxMultipart(t *testing.T, m *Marionette) {
	for _, tc := range []struct {
		name       string
		one, two   string
		requireOne bool
		waitForOne time.Duration
	}{
		{"tiny parts", "<h1>one</h1>", "<h1>two</h1>", false, time.Second},
		{"documents", "<!DOCTYPE html><h1>one</h1>", "<!DOCTYPE html><h1>two</h1>", true, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testMultipart(t, m, tc.one, tc.two, tc.requireOne, tc.waitForOne)
		})
	}
}

// testMultipart serves a two-part multipart/x-mixed-replace stream written by
// hand, holding it open after part one until the test has looked for it,
// and checks what m shows.
func testMultipart(t *testing.T, m *Marionette, one, two string, requireOne bool, waitForOne time.Duration) {
	part := func(html string) string {
		return fmt.Sprintf("Content-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", len(html), html)
	}
	release := make(chan struct{}) // closed once the test has looked for part one
	var secondSent atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r) // favicon.ico
			return
		}
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=B")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		io.WriteString(w, "--B\r\n"+part(one)+"\r\n--B\r\n")
		f.Flush()
		// Keep the stream open on part one until the test has checked it,
		// then send part two 300 ms later.
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		secondSent.Store(true)
		io.WriteString(w, part(two)+"\r\n--B--\r\n")
		f.Flush()
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseOnce) // before srv.Close, so the handler returns

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Start from an empty page, so that text left by an earlier test cannot
	// be taken for this stream's.
	if err := m.Navigate(ctx, "about:blank"); err != nil {
		t.Fatal(err)
	}
	for {
		v, err := m.ExecuteScript(ctx, `return document.URL`)
		if err == nil && string(v) == `"about:blank"` {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("about:blank not loaded: %s, %v", v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := m.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}

	text, err := pollText(ctx, m, "one", waitForOne)
	switch {
	case secondSent.Load():
		t.Fatal("part two was sent before the test released it")
	case err != nil && requireOne:
		t.Fatalf("part one not shown while the stream is open: %v", err)
	case err != nil:
		t.Logf("part one not shown within %v while the stream is open (%v)", waitForOne, err)
	default:
		t.Logf("part one shown after %v: %q", time.Since(start).Round(time.Millisecond), text)
	}
	releaseOnce()

	released := time.Now()
	text, err = pollText(ctx, m, "two", 10*time.Second)
	if err != nil {
		t.Fatalf("part two not shown: %v", err)
	}
	t.Logf("part two shown %v after release: %q", time.Since(released).Round(time.Millisecond), text)
	if strings.Contains(text, "one") {
		t.Errorf("page text after part two = %q, still contains part one", text)
	}
}
