package main

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/mxtest"
)

// The tests in this file run real clients against the app built as a
// command and started as a process.

func TestFFmpeg(t *testing.T) {
	t.Parallel()
	mxtest.Tool(t, "ffmpeg")
	p := mxtest.Start(t, app.Path(t), "-fps", "10", "-size", "320x240")
	imgs := mxtest.FFmpeg(t, p.URL+"/stream", 5)
	var prev uint64
	for i, img := range imgs {
		n, ok := mxtest.ReadCounter(img)
		if !ok || n < prev {
			t.Errorf("ffmpeg frame %d: counter %d (found %v) after %d", i, n, ok, prev)
		}
		prev = n
	}
	p.Stop(t, 5*time.Second)
}

// TestCurlSIGTERM streams with curl while the app gets SIGTERM: curl exits
// 0 and its file ends with a complete last part and the close delimiter.
func TestCurlSIGTERM(t *testing.T) {
	t.Parallel()
	curl := mxtest.Tool(t, "curl")
	p := mxtest.Start(t, app.Path(t), "-fps", "20", "-size", "320x240")
	dir := t.TempDir()
	out, hdr := filepath.Join(dir, "stream.bin"), filepath.Join(dir, "headers.txt")
	cmd := exec.Command(curl, "-sS", "-N", "-D", hdr, "-o", out, p.URL+"/stream")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var curlErr error
	curlDone := make(chan struct{})
	go func() {
		curlErr = cmd.Wait()
		close(curlDone)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-curlDone
	})
	mxtest.Eventually(t, 20*time.Second, "curl to receive 3 parts", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("Content-Length:")) >= 3
	})

	p.Stop(t, 5*time.Second)
	select {
	case <-curlDone:
		if curlErr != nil {
			t.Fatalf("curl: %v: %s", curlErr, stderr.Bytes())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("curl still running 20 s after the app exited")
	}

	headers, err := os.ReadFile(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var boundary string
	for _, line := range strings.Split(string(headers), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Type") {
			_, params, err := mime.ParseMediaType(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("Content-Type %q: %v", v, err)
			}
			boundary = params["boundary"]
		}
	}
	if boundary == "" {
		t.Fatalf("no boundary in the response headers:\n%s", headers)
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if end := "\r\n--" + boundary + "--\r\n"; !bytes.HasSuffix(body, []byte(end)) {
		t.Fatalf("the stream does not end with %q: ...%q", end, body[max(0, len(body)-80):])
	}

	// Every part is complete: Content-Length matches and the JPEG decodes.
	// A last part that repeats the one before is marked Mx-Final.
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var last, prev []byte
	var lastHeader textproto.MIMEHeader
	n := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if cl := part.Header.Get("Content-Length"); cl != strconv.Itoa(len(b)) {
			t.Errorf("part %d: Content-Length %s for %d bytes", n, cl, len(b))
		}
		mxtest.DecodeJPEG(t, b)
		prev, last, lastHeader = last, b, part.Header
		n++
	}
	repeat := lastHeader.Get(core.FinalHeader) != ""
	if repeat && !bytes.Equal(last, prev) {
		t.Errorf("last part (header %v) is marked as a repeat but differs from the one before", lastHeader)
	}
	want := n
	if repeat {
		want--
	}
	// core.Read sees a clean end and drops the repeat.
	parts := 0
	for _, err := range core.Read(bytes.NewReader(body), boundary, nil) {
		if err != nil {
			t.Fatalf("core.Read after %d parts: %v", parts, err)
		}
		parts++
	}
	if parts != want {
		t.Errorf("core.Read: %d parts, want %d", parts, want)
	}
	t.Logf("curl got %d parts, %d bytes, and exited 0", n, len(body))
}
