package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/browser"
	"github.com/mxreplace/mx/internal/mxtest"
)

// Chromium shows a part of a multipart/x-mixed-replace image only once the
// next part's header block has arrived. In advance mode, which Chromium
// gets by default, the app sends that block right after each frame, so
// Chromium must show the newest frame; in length mode (?mx=length) it shows
// the one before. TestChromium* check both, with the app built and run as a
// process at 1 fps, by reading the frame counter in Chromium's screenshots.
//
// Timing. An observer reads the stream: each frame's X-Timestamp is its
// publish time. A screenshot is taken after a known time lo and before the
// PNG file's modification time hi; n is the newest frame published before
// hi. Chromium may need a moment to paint a new frame, so a screenshot
// counts only if frame n was published at least `paint` before lo (the
// page test has its own rule). Each test arranges lo so that its rule
// holds, and retries a screenshot that does not count.

const (
	paint    = 350 * time.Millisecond // time Chromium may take to paint a frame
	interval = time.Second            // the app's frame interval (-fps 1)
)

// chromiumApp starts the app at 1 fps with an observer and a tap in front.
func chromiumApp(t *testing.T) (*observer, *tap) {
	browser.Chromium(t)
	p := mxtest.Start(t, app.Path(t), "-fps", "1", "-size", "640x480")
	obs := observe(t, p.URL+"/stream")
	tp := newTap(t, strings.TrimPrefix(p.URL, "http://"))
	mxtest.Eventually(t, 20*time.Second, "the first frame", func() bool { _, ok := obs.last(); return ok })
	return obs, tp
}

// untilPhase sleeps until aim into the interval of the newest frame.
func untilPhase(obs *observer, aim time.Duration) {
	last, _ := obs.last()
	phase := time.Since(last.Stamp) % interval
	time.Sleep((aim - phase + interval) % interval)
}

// check reports the result of one screenshot: frame shown, newest frame n,
// and whether it counts; a counted one must be `behind` frames behind n.
func check(t *testing.T, name string, shown uint64, n mxtest.Frame, lo, hi time.Time, counts bool, behind uint64) {
	t.Helper()
	t.Logf("%s: screenshot taken %v to %v after frame %d was published; Chromium shows frame %d; counts: %v",
		name, lo.Sub(n.Stamp).Round(time.Millisecond), hi.Sub(n.Stamp).Round(time.Millisecond), n.Counter, shown, counts)
	if !counts {
		return
	}
	if shown+behind != n.Counter {
		t.Errorf("%s: Chromium shows frame %d when frame %d is the newest, want %d", name, shown, n.Counter, n.Counter-behind)
	} else {
		t.Logf("%s: Chromium shows frame %d, the newest is %d (%d behind)", name, shown, n.Counter, behind)
	}
}

// screenshot runs Chromium on url and returns the counter it shows and the
// file's modification time. It may run on any goroutine.
func screenshot(dir, url string, timeout time.Duration) (uint64, time.Time, error) {
	file := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := browser.ChromiumScreenshot(ctx, url, file, 800, 600, timeout); err != nil {
		return 0, time.Time{}, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return 0, time.Time{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%s: %w", file, err)
	}
	n, ok := mxtest.ReadCounter(img)
	if !ok {
		return 0, time.Time{}, fmt.Errorf("no frame counter in the screenshot of %s", url)
	}
	return n, fi.ModTime(), nil
}

// TestChromiumSteady shows the stream in an <img> on a test page that also
// loads an image the test holds back; Chromium takes the screenshot when
// the page's load event fires, which is when the test releases that image:
// after two frames of stream, half an interval after a publish, so lo is
// the release.
func TestChromiumSteady(t *testing.T) {
	t.Parallel()
	obs, tp := chromiumApp(t)
	release := make(chan chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		src := tp.url + "/stream"
		if m := r.URL.Query().Get("mx"); m != "" {
			src += "?mx=" + m
		}
		fmt.Fprintf(w, `<!doctype html><body style="margin:0;background:#000"><img src="%s" style="display:block"><img src="/held" width="1" height="1">`, src)
	})
	mux.HandleFunc("/held", func(w http.ResponseWriter, r *http.Request) {
		ch := make(chan struct{})
		release <- ch
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(onePixelPNG)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		mode   string
		behind uint64
	}{{"", 0}, {"length", 1}} {
		name := "steady-" + cmp.Or(tc.mode, "auto")
		for attempt := 1; attempt <= 3; attempt++ {
			launch := time.Now()
			var shown uint64
			var hi time.Time
			var err error
			done := make(chan struct{})
			dir := t.TempDir()
			go func() {
				defer close(done)
				shown, hi, err = screenshot(dir, srv.URL+"/page?mx="+tc.mode, 30*time.Second)
			}()
			var held chan struct{}
			select {
			case held = <-release:
			case <-done:
				t.Fatalf("%s: Chromium took its screenshot before the page loaded: %v", name, err)
			}
			var req time.Time
			mxtest.Eventually(t, 10*time.Second, "the page to ask for the stream", func() bool {
				var ok bool
				req, ok = tp.streamRequest(launch)
				return ok
			})
			mxtest.Eventually(t, 10*time.Second, "two frames of stream", func() bool { return obs.publishedIn(req, time.Now()) >= 2 })
			untilPhase(obs, interval/2)
			lo := time.Now()
			close(held)
			<-done
			if err != nil {
				t.Fatal(err)
			}
			var n mxtest.Frame
			mxtest.Eventually(t, 10*time.Second, "a frame after the screenshot", func() bool {
				var ok bool
				n, ok = obs.latestAt(hi)
				return ok
			})
			counts := n.Stamp.Add(paint).Before(lo)
			check(t, fmt.Sprintf("%s, attempt %d", name, attempt), shown, n, lo, hi, counts, tc.behind)
			if counts {
				break
			}
		}
	}
}

// TestChromiumPage takes screenshots of the app's own page. Chromium fires
// the load event, and takes the screenshot, once the <img> has its first
// frame. The tap holds the /stream request back until 300 ms after a
// publish, so lo is when the tap lets it through. In advance mode the
// first frame is complete at once: the screenshot counts if no frame was
// published after lo. In length mode it is complete only when the second
// arrives, so the page loads then and shows the first: it counts if
// exactly one frame was published after lo.
func TestChromiumPage(t *testing.T) {
	t.Parallel()
	obs, tp := chromiumApp(t)
	for _, tc := range []struct {
		path   string
		behind uint64
	}{{"/", 0}, {"/?mx=length", 1}} {
		name := "page " + tc.path
		for attempt := 1; attempt <= 3; attempt++ {
			tp.setHold(func() { untilPhase(obs, 300*time.Millisecond) })
			launch := time.Now()
			shown, hi, err := screenshot(t.TempDir(), tp.url+tc.path, 10*time.Second)
			tp.setHold(nil)
			if err != nil {
				t.Fatal(err)
			}
			lo, ok := tp.streamRequest(launch) // let through then
			if !ok {
				t.Fatalf("%s: the page never asked for /stream", name)
			}
			var n mxtest.Frame
			mxtest.Eventually(t, 10*time.Second, "a frame after the screenshot", func() bool {
				n, ok = obs.latestAt(hi)
				return ok
			})
			counts := obs.publishedIn(lo, hi) == int(tc.behind)
			check(t, fmt.Sprintf("%s, attempt %d", name, attempt), shown, n, lo, hi, counts, tc.behind)
			if counts {
				break
			}
		}
	}
}

// TestChromiumImageDocument takes screenshots of /stream itself as the
// top-level document (Chromium's image viewer), taken --timeout after
// navigation starts: lo is the /stream request plus the timeout, less
// 150 ms (navigation starts a little before the request; measured
// screenshots come 30-90 ms after request + timeout). Chromium's start-up
// time varies, so the test cannot place the screenshot exactly; it aims,
// and retries. A run in which no screenshot counts is logged, not failed
// (TestChromiumSteady covers the same ground deterministically).
func TestChromiumImageDocument(t *testing.T) {
	t.Parallel()
	obs, tp := chromiumApp(t)
	const timeout = 1500 * time.Millisecond
	lag := timeout + 700*time.Millisecond // launch to lo; learned
	for _, tc := range []struct {
		path   string
		behind uint64
	}{{"/stream", 0}, {"/stream?mx=length", 1}} {
		name := "image document " + tc.path
		counted := false
		for attempt := 1; attempt <= 4 && !counted; attempt++ {
			untilPhase(obs, (interval/2-lag%interval+interval)%interval)
			launch := time.Now()
			shown, hi, err := screenshot(t.TempDir(), tp.url+tc.path, timeout)
			if err != nil {
				t.Fatal(err)
			}
			req, ok := tp.streamRequest(launch)
			if !ok {
				t.Fatalf("%s: Chromium never asked for /stream", name)
			}
			lo := req.Add(timeout - 150*time.Millisecond)
			lag = lo.Sub(launch)
			var n mxtest.Frame
			mxtest.Eventually(t, 10*time.Second, "a frame after the screenshot", func() bool {
				n, ok = obs.latestAt(hi)
				return ok
			})
			counted = n.Stamp.Add(paint).Before(lo)
			check(t, fmt.Sprintf("%s, attempt %d", name, attempt), shown, n, lo, hi, counted, tc.behind)
		}
		if !counted {
			t.Logf("%s: no screenshot was timed well enough to count", name)
		}
	}
}

var onePixelPNG = func() []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	return b.Bytes()
}()

// observer reads a stream and records when each frame was published (its
// X-Timestamp).
type observer struct {
	mu     sync.Mutex
	frames []mxtest.Frame // distinct counters, in order
}

func observe(t *testing.T, url string) *observer {
	o := &observer{}
	ctx, cancel := context.WithCancel(context.Background())
	resp := mxtest.Do(t, mxtest.Client(t), ctx, http.MethodGet, url)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, core.MediaType) {
		t.Fatalf("observer: %s %q", resp.Status, ct)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for p, err := range core.ReadResponse(resp, nil) {
			if err != nil {
				return
			}
			img, err := jpeg.Decode(bytes.NewReader(p.Body))
			if err != nil {
				continue
			}
			n, ok := mxtest.ReadCounter(img)
			ts, err := mxtest.ParseTimestamp(p.Header.Get(core.TimestampHeader))
			if !ok || err != nil {
				continue
			}
			o.mu.Lock()
			if k := len(o.frames); k == 0 || o.frames[k-1].Counter != n {
				o.frames = append(o.frames, mxtest.Frame{Part: p, Counter: n, Stamp: ts})
			}
			o.mu.Unlock()
		}
	}()
	return o
}

// last returns the newest frame seen.
func (o *observer) last() (mxtest.Frame, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 {
		return mxtest.Frame{}, false
	}
	return o.frames[len(o.frames)-1], true
}

// latestAt returns the newest frame published at or before t, once a frame
// published after t has been seen (so that none can be missing).
func (o *observer) latestAt(t time.Time) (mxtest.Frame, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.frames) - 1; i > 0; i-- {
		if !o.frames[i].Stamp.After(t) {
			return o.frames[i], i < len(o.frames)-1
		}
	}
	return mxtest.Frame{}, false
}

// publishedIn counts the frames published in (from, to].
func (o *observer) publishedIn(from, to time.Time) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, f := range o.frames {
		if f.Stamp.After(from) && !f.Stamp.After(to) {
			n++
		}
	}
	return n
}

// tap is a TCP proxy in front of the app that notes when requests for
// /stream arrive.
type tap struct {
	url    string
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   []net.Conn
	streams []time.Time
	hold    func() // called before a /stream request is let through
	wg      sync.WaitGroup
}

// setHold sets the function called before a /stream request is let
// through (nil: none).
func (p *tap) setHold(f func()) {
	p.mu.Lock()
	p.hold = f
	p.mu.Unlock()
}

func newTap(t *testing.T, target string) *tap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tap{url: "http://" + ln.Addr().String(), ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *tap) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // client to app: note the /stream requests
			defer p.wg.Done()
			defer s.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if bytes.Contains(buf[:n], []byte("GET /stream")) {
						p.mu.Lock()
						hold := p.hold
						p.mu.Unlock()
						if hold != nil {
							hold()
						}
						p.mu.Lock()
						p.streams = append(p.streams, time.Now())
						p.mu.Unlock()
					}
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // app to client
			defer p.wg.Done()
			defer c.Close()
			io.Copy(c, s)
		}()
	}
}

// streamRequest returns the time of the first /stream request after t.
func (p *tap) streamRequest(t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.streams {
		if r.After(t) {
			return r, true
		}
	}
	return time.Time{}, false
}
