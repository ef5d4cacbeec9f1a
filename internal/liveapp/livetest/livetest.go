// Package livetest holds the test helpers of the live example apps
// (examples/mjpeg and examples/relay): reading a stream into frames,
// checking X-Timestamp, the access checks (auth and CORS) both apps must
// pass, and running real clients (ffmpeg, curl, the built app) as
// processes.
package livetest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/testpattern"
)

// Client returns an HTTP client without keep-alive, so that no idle
// connection outlives a test (the packages check for leaked goroutines).
func Client(t testing.TB) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Frame is one part of a stream as a viewer got it.
type Frame struct {
	Part     core.Part
	Counter  uint64    // the test pattern's frame number; 0 if unreadable
	Stamp    time.Time // X-Timestamp
	Received time.Time
}

// Get sends a GET for url with the given header fields ("Name", "value",
// ...) and returns the response; the body is closed at cleanup.
func Get(t testing.TB, ctx context.Context, c *http.Client, url string, kv ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Frames reads n parts of the stream in resp and checks each one: an
// image/jpeg with a Content-Length equal to its body's length, a valid
// X-Timestamp that is not in the future, and a body that decodes. The
// counter is read when the frames carry the test pattern (pattern true).
func Frames(t testing.TB, resp *http.Response, n int, pattern bool) []Frame {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s (Content-Type %q)", resp.Status, ct)
	}
	var frames []Frame
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			t.Fatalf("stream: after %d parts: %v", len(frames), err)
		}
		now := time.Now()
		f := Frame{Part: p, Received: now}
		if ct := p.Header.Get("Content-Type"); ct != core.TypeJPEG {
			t.Errorf("part %d: Content-Type %q, want %q", len(frames), ct, core.TypeJPEG)
		}
		if cl := p.Header.Get("Content-Length"); cl != strconv.Itoa(len(p.Body)) {
			t.Errorf("part %d: Content-Length %q for a body of %d bytes", len(frames), cl, len(p.Body))
		}
		f.Stamp = Timestamp(t, p.Header.Get(core.TimestampHeader))
		if f.Stamp.After(now.Add(time.Millisecond)) {
			t.Errorf("part %d: X-Timestamp %v is after its receipt at %v", len(frames), f.Stamp, now)
		}
		img := DecodeJPEG(t, p.Body)
		if pattern {
			c, ok := testpattern.ReadCounter(img)
			if !ok {
				t.Fatalf("part %d: no frame counter found", len(frames))
			}
			f.Counter = c
		}
		frames = append(frames, f)
		if len(frames) == n {
			return frames
		}
	}
	t.Fatalf("stream ended after %d parts, want %d", len(frames), n)
	return nil
}

// CheckIncreasing checks that frame counters and timestamps never go back,
// and that the counter moved forward.
func CheckIncreasing(t testing.TB, frames []Frame) {
	t.Helper()
	for i := 1; i < len(frames); i++ {
		a, b := frames[i-1], frames[i]
		if b.Counter < a.Counter || b.Stamp.Before(a.Stamp) {
			t.Errorf("frame %d: counter %d at %v after counter %d at %v", i, b.Counter, b.Stamp, a.Counter, a.Stamp)
		}
	}
	if first, last := frames[0].Counter, frames[len(frames)-1].Counter; last <= first {
		t.Errorf("counters did not increase: %d to %d", first, last)
	}
}

var timestampRE = regexp.MustCompile(`^[0-9]{10,}\.[0-9]{6}$`)

// ParseTimestamp parses an X-Timestamp value: Unix seconds with exactly six
// decimals.
func ParseTimestamp(s string) (time.Time, error) {
	if !timestampRE.MatchString(s) {
		return time.Time{}, fmt.Errorf("X-Timestamp %q: want Unix seconds with 6 decimals", s)
	}
	sec, _ := strconv.ParseInt(s[:len(s)-7], 10, 64)
	usec, _ := strconv.ParseInt(s[len(s)-6:], 10, 64)
	return time.Unix(sec, usec*1000), nil
}

// Timestamp parses an X-Timestamp value (see ParseTimestamp). It fails the
// test for a malformed one or one more than a minute away from now.
func Timestamp(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := ParseTimestamp(s)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(ts); math.Abs(d.Seconds()) > 60 {
		t.Fatalf("X-Timestamp %q is %v away from now", s, d)
	}
	return ts
}

// DecodeJPEG decodes b or fails the test.
func DecodeJPEG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding a %d-byte JPEG: %v", len(b), err)
	}
	return img
}

// ReadAll reads the body of a response that must end (not a stream) or
// fails the test.
func ReadAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return b
}

// Eventually calls cond until it returns true or timeout passes, then fails
// the test with what. It waits for something that must happen, it asserts
// nothing about how fast.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pattern returns frame n of a w x h test pattern as a JPEG.
func Pattern(t testing.TB, w, h int, n uint64) []byte {
	t.Helper()
	b, err := testpattern.Pattern{Width: w, Height: h}.JPEG(n, time.Time{}, 70)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// String returns a short description of a frame for failure messages.
func (f Frame) String() string {
	return fmt.Sprintf("frame %d (%d bytes, stamped %s)", f.Counter, len(f.Part.Body), f.Part.Header.Get(core.TimestampHeader))
}

// Serve runs a live app's handler on a loopback test server and returns
// its base URL. At cleanup the Broadcaster shuts down (ending every stream
// cleanly), then the server closes and stop ends the app's producer.
func Serve(t testing.TB, h http.Handler, cam *core.Broadcaster, stop func()) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cam.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		stop()
	})
	return srv.URL
}

// Context returns a context that ends with the test or after 30 s.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
