package mxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/examples/demo"
	"github.com/mxreplace/mx/internal/browser"
)

// ArtifactsEnv names an environment variable: when it holds a directory,
// the browser tests save their screenshots there.
const ArtifactsEnv = "MX_ARTIFACTS"

// FinalHeading is what the demo's last part shows as text.
const FinalHeading = "Hello, the wonderful world of HTML!"

// pageState is what Firefox shows at one moment.
type pageState struct {
	Type  string `json:"type"`  // document.contentType
	Text  string `json:"text"`  // innerText
	Ready string `json:"ready"` // document.readyState
	Img   *struct {
		Complete bool `json:"complete"`
		Width    int  `json:"width"`
	} `json:"img"` // document.images[0]
}

func (s pageState) String() string {
	img := "no image"
	if s.Img != nil {
		img = fmt.Sprintf("image complete=%v naturalWidth=%d", s.Img.Complete, s.Img.Width)
	}
	return fmt.Sprintf("%s %s %q, %s", s.Type, s.Ready, s.Text, img)
}

const stateScript = `const d = document, e = d.documentElement, i = d.images[0];
return {type: d.contentType, ready: d.readyState,
  text: e ? (typeof e.innerText === "string" ? e.innerText : e.textContent || "") : "",
  img: i ? {complete: i.complete, width: i.naturalWidth} : null};`

// CheckDemoFirefox opens the demo app h in headless Firefox, driven
// through Marionette. It logs what the page shows while the stream runs.
// Firefox must show both text parts. After the stream's end, with the
// document complete, it must show the final heading and the image. It
// skips when Firefox is not installed.
func CheckDemoFirefox(t *testing.T, name string, h http.Handler) {
	browser.Firefox(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := t.Context()
	m, err := browser.StartFirefox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()

	start := time.Now()
	if err := m.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	var (
		last    pageState
		seen    []string
		errs    int
		texts   = map[string]bool{}
		done    bool
		timeout = time.After(DemoDuration + 20*time.Second)
	)
	for !done {
		select {
		case <-timeout:
			t.Fatalf("Firefox did not show the final heading and image; states seen:\n%s", strings.Join(seen, "\n"))
		case <-time.After(20 * time.Millisecond):
		}
		res, err := m.ExecuteScript(ctx, stateScript)
		var s pageState
		if err == nil {
			err = json.Unmarshal(res, &s)
		}
		if err != nil { // the document is being replaced
			errs++
			continue
		}
		if s.String() != last.String() {
			seen = append(seen, fmt.Sprintf("%6.3fs %v", time.Since(start).Seconds(), s))
			last = s
		}
		texts[strings.TrimSpace(s.Text)] = true
		// readyState "complete": the stream has ended.
		done = s.Ready == "complete" && strings.TrimSpace(s.Text) == FinalHeading &&
			s.Img != nil && s.Img.Complete && s.Img.Width == 48
	}
	t.Logf("Firefox showed (%d script errors while documents were replaced):\n%s", errs, strings.Join(seen, "\n"))
	// A text part stays 500 ms on screen: polling every 20 ms sees both.
	for _, want := range []string{demo.Text1, demo.Text2} {
		if !texts[strings.TrimSpace(want)] {
			t.Errorf("Firefox never showed the text part %q", want)
		}
	}
	shot, err := m.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saveArtifact(t, "firefox-"+name+"-final.png", shot)
}

// CheckDemoChromium takes screenshots of the demo app h in headless
// Chromium: while the text parts stream, while the image part is the
// latest, and after the end. It checks only that they are valid PNG
// images. Chromium renders multipart/x-mixed-replace for images only, so
// what it shows for text and HTML parts is saved (see ArtifactsEnv), not
// asserted. It skips when Chromium is not installed.
func CheckDemoChromium(t *testing.T, name string, h http.Handler) {
	browser.Chromium(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, shot := range []struct {
		name  string
		after time.Duration
	}{
		{"text", 1200 * time.Millisecond},
		{"image", 3500 * time.Millisecond}, // the PNG is sent at 3 s, the next part at 4 s
		{"final", DemoDuration + 2*time.Second},
	} {
		path := filepath.Join(t.TempDir(), shot.name+".png")
		if err := browser.ChromiumScreenshot(t.Context(), srv.URL+"/", path, 800, 600, shot.after); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s screenshot: %v", shot.name, err)
		}
		t.Logf("%s screenshot after %v: %v", shot.name, shot.after, img.Bounds().Size())
		saveArtifact(t, "chromium-"+name+"-"+shot.name+".png", b)
	}
}

func saveArtifact(t *testing.T, name string, b []byte) {
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("saved %s", path)
}
