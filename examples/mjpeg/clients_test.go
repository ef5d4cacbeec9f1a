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
	"github.com/mxreplace/mx/internal/liveapp/livetest"
	"github.com/mxreplace/mx/internal/testpattern"
)

// The tests in this file run real clients against the app built as a
// command and started as a process.

func TestFFmpeg(t *testing.T) {
	t.Parallel()
	livetest.Tool(t, "ffmpeg")
	p := livetest.Start(t, app.Path(t), "-fps", "10", "-size", "320x240")
	imgs := livetest.FFmpeg(t, p.URL+"/stream", 5)
	var prev uint64
	for i, img := range imgs {
		n, ok := testpattern.ReadCounter(img)
		if !ok || n < prev {
			t.Errorf("ffmpeg frame %d: counter %d (found %v) after %d", i, n, ok, prev)
		}
		prev = n
	}
	if code := p.Stop(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM; stderr: %s", code, p.Stderr())
	}
}

// TestCurlSIGTERM streams with curl while the app gets SIGTERM: curl exits
// 0 and its file ends with a complete last part and the close delimiter.
func TestCurlSIGTERM(t *testing.T) {
	t.Parallel()
	curl := livetest.Tool(t, "curl")
	p := livetest.Start(t, app.Path(t), "-fps", "20", "-size", "320x240")
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
	livetest.Eventually(t, 20*time.Second, "curl to receive 3 parts", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("Content-Length:")) >= 3
	})

	if code := p.Stop(t); code != 0 {
		t.Errorf("app exit code %d after SIGTERM; stderr: %s", code, p.Stderr())
	}
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
	// The last one repeats the one before, marked Mx-Final (see core).
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
		livetest.DecodeJPEG(t, b)
		prev, last, lastHeader = last, b, part.Header
		n++
	}
	if lastHeader.Get(core.FinalHeader) == "" || !bytes.Equal(last, prev) {
		t.Errorf("last part (header %v) is not the marked repeat of the one before", lastHeader)
	}
	// core.Read sees a clean end and drops the repeat.
	parts := 0
	for _, err := range core.Read(bytes.NewReader(body), boundary, nil) {
		if err != nil {
			t.Fatalf("core.Read after %d parts: %v", parts, err)
		}
		parts++
	}
	if parts != n-1 {
		t.Errorf("core.Read: %d parts, want %d", parts, n-1)
	}
	t.Logf("curl got %d parts, %d bytes, and exited 0", n, len(body))
}
