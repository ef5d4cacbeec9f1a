package mxtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/testpattern"
)

// Frame is one part of a stream as a viewer got it.
type Frame struct {
	Part     core.Part
	Counter  uint64    // the test pattern's frame number; 0 if unreadable
	Stamp    time.Time // X-Timestamp
	Received time.Time
}

// Frames reads n parts of the stream in resp and checks each one. A part
// is an image/jpeg whose Content-Length is its body's length. Its
// X-Timestamp is valid and not in the future, and its body decodes. With
// pattern true, the frames carry the test pattern, and Frames reads their
// counters.
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
			c, ok := ReadCounter(img)
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

// CheckIncreasing checks that frame counters and timestamps never go back.
// The counter must move forward.
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

// Timestamp parses an X-Timestamp value with ParseTimestamp. It fails the
// test for a malformed one, or one more than a minute away from now.
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

// FFmpeg has ffmpeg read n frames of the MJPEG stream at url, with -f
// mpjpeg. It returns them decoded; ffmpeg writes them as PNG. ffmpeg must
// exit 0.
func FFmpeg(t testing.TB, url string, n int) []image.Image {
	t.Helper()
	bin := Tool(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "mpjpeg", "-i", url, "-frames:v", strconv.Itoa(n), "-f", "image2pipe", "-vcodec", "png", "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("ffmpeg stderr: %s", stderr.Bytes())
	}
	var imgs []image.Image
	r := bufio.NewReader(&stdout)
	for {
		if _, err := r.Peek(1); err == io.EOF {
			break
		}
		img, err := png.Decode(r)
		if err != nil {
			t.Fatalf("ffmpeg output, image %d: %v", len(imgs), err)
		}
		imgs = append(imgs, img)
	}
	if len(imgs) < n {
		t.Fatalf("ffmpeg decoded %d frames, want %d", len(imgs), n)
	}
	return imgs
}
