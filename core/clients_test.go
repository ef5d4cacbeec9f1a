package core_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// These tests check the clean end of a stream with real clients. They skip
// when the client is not installed (.ci/run installs it).

// TestCurlSeesCleanEnd: curl gets exactly the parts, the final repeat and
// the close delimiter, with and without chunked coding.
func TestCurlSeesCleanEnd(t *testing.T) {
	curl := lookPath(t, "curl", "curl")
	for _, chunked := range []bool{false, true} {
		srv := httptest.NewServer(core.Handler(partsSource(core.Text("first"), core.HTML("<h1>last</h1>")), &core.Options{Boundary: "B", Chunked: chunked}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, curl, "-sS", "-N", "--fail", srv.URL).Output()
		cancel()
		srv.Close()
		if err != nil {
			t.Fatalf("chunked=%v: curl: %v", chunked, err)
		}
		want := "--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nfirst\r\n--B\r\n" +
			"Content-Type: text/html; charset=utf-8\r\nContent-Length: 13\r\n\r\n<h1>last</h1>\r\n--B\r\n" +
			"Content-Type: text/html; charset=utf-8\r\nContent-Length: 13\r\nMx-Final: repeat\r\n\r\n<h1>last</h1>\r\n--B--\r\n"
		if string(out) != want {
			t.Errorf("chunked=%v: curl got\n%q\nwant\n%q", chunked, out, want)
		}
	}
}

// testJPEG returns a 64x48 JPEG image of one colour.
func testJPEG(t *testing.T, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := 0; i < len(img.Pix); i += 4 {
		r, g, b, _ := c.RGBA()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(r>>8), byte(g>>8), byte(b>>8), 255
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFFmpegSeesCleanEnd: ffmpeg's mpjpeg demuxer decodes every frame of a
// finished stream, the repeat of the last one included, and exits 0. Its
// HTTP client sees a clean end (chunked coding for the "Lavf/" User-Agent:
// without it ffmpeg reports "Stream ends prematurely"). The demuxer itself
// ends every finite stream, its own muxer's output included, with "Invalid
// data found when processing input": it reads the final delimiter as the
// start of one more part. That line is the only one allowed.
func TestFFmpegSeesCleanEnd(t *testing.T) {
	ffmpeg := lookPath(t, "ffmpeg", "ffmpeg")
	red, green, blue := testJPEG(t, color.RGBA{255, 0, 0, 255}), testJPEG(t, color.RGBA{0, 255, 0, 255}), testJPEG(t, color.RGBA{0, 0, 255, 255})
	srv := httptest.NewServer(core.Handler(partsSource(core.JPEG(red), core.JPEG(green), core.JPEG(blue)), nil))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "mpjpeg", "-i", srv.URL,
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasSuffix(line, ": Invalid data found when processing input") {
			t.Errorf("ffmpeg reported: %s", line)
		}
	}
	const frame = 64 * 48 * 3
	if len(out) != 4*frame {
		t.Fatalf("ffmpeg decoded %d bytes, want 4 frames of %d (three and the final repeat)", len(out), frame)
	}
	// The frames in order, by their colour in the middle: red, green, blue, blue.
	for i, want := range []int{0, 1, 2, 2} {
		px := out[i*frame+(24*64+32)*3:][:3]
		if px[want] < 200 {
			t.Errorf("frame %d: middle pixel %v, want channel %d bright", i, px, want)
		}
	}
}
