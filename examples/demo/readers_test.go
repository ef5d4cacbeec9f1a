package demo_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// The demo marks its last part, so every reader sees exactly its 15 parts:
// no final repeat, no empty part, no error.

func serveDemo(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(core.Handler(demo.Source, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// wantTypes returns the media types of the demo's parts, without
// parameters.
func wantTypes(t *testing.T) []string {
	var types []string
	for _, s := range demo.Steps() {
		mt, _, err := mime.ParseMediaType(s.Part.ContentType())
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, mt)
	}
	if len(types) != 15 {
		t.Fatalf("the demo has %d parts, want 15", len(types))
	}
	return types
}

// TestGoMultipart: Go's mime/multipart reads exactly the 15 parts, byte for
// byte, then io.EOF.
func TestGoMultipart(t *testing.T) {
	t.Parallel()
	resp, err := http.Get(serveDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	steps := demo.Steps()
	n := 0
	for ; ; n++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d parts: %v", n, err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if n >= len(steps) {
			t.Fatalf("part %d of %d: %q", n+1, len(steps), body)
		}
		if want := steps[n].Part; string(body) != string(want.Body) || p.Header.Get("Content-Type") != want.ContentType() {
			t.Errorf("part %d: %s %q, want %s %q", n, p.Header.Get("Content-Type"), body, want.ContentType(), want.Body)
		}
	}
	if n != len(steps) {
		t.Errorf("%d parts, want %d", n, len(steps))
	}
}

// TestPythonParsers: requests_toolbelt's MultipartDecoder and the email
// package parse the whole stream into exactly the 15 parts.
func TestPythonParsers(t *testing.T) {
	t.Parallel()
	python := ""
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(name, "-c", "import requests_toolbelt").Run() == nil {
			python = name
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with requests_toolbelt (Debian: python3-requests-toolbelt)")
	}
	out, err := exec.Command(python, "testdata/count_parts.py", serveDemo(t)).Output()
	if err != nil {
		t.Fatalf("count_parts.py: %v\n%s", err, out)
	}
	var got struct {
		Toolbelt     []string `json:"toolbelt"`
		Email        []string `json:"email"`
		EmailDefects []string `json:"email_defects"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := wantTypes(t)
	for name, types := range map[string][]string{"MultipartDecoder": got.Toolbelt, "email": got.Email} {
		if len(types) != len(want) {
			t.Errorf("%s: %d parts, want %d: %q", name, len(types), len(want), types)
			continue
		}
		for i := range want {
			if mt, _, _ := mime.ParseMediaType(types[i]); mt != want[i] {
				t.Errorf("%s: part %d is %q, want %q", name, i, types[i], want[i])
			}
		}
	}
	if len(got.EmailDefects) > 0 {
		t.Errorf("email: defects %q", got.EmailDefects)
	}
}

// TestGStreamer: GStreamer's multipartdemux makes one pad per type and
// sees 15 buffers across them, then EOS.
func TestGStreamer(t *testing.T) {
	t.Parallel()
	gst, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		t.Skip("gst-launch-1.0 not found (Debian: gstreamer1.0-tools gstreamer1.0-plugins-good)")
	}
	if exec.Command("gst-inspect-1.0", "multipartdemux").Run() != nil {
		t.Skip("GStreamer has no multipartdemux (Debian: gstreamer1.0-plugins-good)")
	}
	// One file per buffer, one file name prefix per pad.
	dir := t.TempDir()
	args := []string{"souphttpsrc", "location=" + serveDemo(t), "!", "multipartdemux", "name=d"}
	for pad := range 3 { // text/plain, image/png, text/html
		args = append(args, fmt.Sprintf("d.src_%d", pad), "!", "queue", "!",
			"multifilesink", fmt.Sprintf("location=%s/pad%d-%%02d", dir, pad))
	}
	out, err := exec.Command(gst, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gst-launch-1.0: %v\n%s", err, out)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 15 || !strings.Contains(string(out), "Got EOS") {
		var names []string
		for _, f := range files {
			names = append(names, f.Name())
		}
		t.Errorf("%d buffers %q, want 15 and EOS:\n%s", len(files), names, out)
	}
}
