package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// These tests check that advance mode never shows a part under the type
// of the part before it: the stream's types change from part to part and
// the browser reads the stream natively (?mx=advance).

// paced serves parts one every gap and calls mark(k) as part k goes out.
func paced(gap time.Duration, mark func(int), parts ...core.Part) core.Source {
	return func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			for k, p := range parts {
				if k == len(parts)-1 {
					p.Last = true
				}
				mark(k)
				if !yield(p) {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(gap):
				}
			}
		}
	}
}

// TestAdvanceTypesWebKit: WebKit reads a top-level stream whose parts go
// HTML, text, PNG, HTML, text in advance mode: each part is shown, under
// its own type (document.contentType), never under the one before.
func TestAdvanceTypesWebKit(t *testing.T) {
	WebKit(t)
	d := started(t, func(ctx context.Context) (driver, error) { return StartWebKit(ctx) })
	pad := "<!--" + strings.Repeat(" ", 700) + "-->" // WebKit paints a document part only past ~600 bytes
	ppad := strings.Repeat(" ", 700)
	frames := framePNGs(t)
	parts := []core.Part{
		core.HTML("<!doctype html><h1>part-0</h1>" + pad),
		core.Text("<h1>part-1</h1>" + ppad),
		core.PNG(frames[1]),
		core.HTML("<!doctype html><h1>part-3</h1>" + pad),
		core.Text("<h1>part-4</h1>" + ppad),
	}
	types := []string{"text/html", "text/plain", "image/png", "text/html", "text/plain"}
	var requests atomic.Int32
	h := core.Handler(paced(1500*time.Millisecond, func(k int) {
		if k == 0 {
			t.Logf("stream request %d", requests.Add(1))
		}
	}, parts...), nil)
	mux := http.NewServeMux()
	mux.Handle("/{$}", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Navigate(ctx, srv.URL+"/?mx=advance"); err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, len(parts))
	done := time.After(time.Duration(len(parts))*1500*time.Millisecond + 5*time.Second)
	for {
		select {
		case <-done:
			for k, ok := range seen {
				if !ok {
					t.Errorf("part %d (%s) never shown", k, types[k])
				}
			}
			return
		default:
		}
		res, err := d.ExecuteScript(ctx, observe)
		var v view
		if err != nil || json.Unmarshal(res, &v) != nil {
			continue
		}
		text := v.Text
		if v.H1 != nil {
			text = *v.H1
		}
		for k, typ := range types {
			shows := strings.Contains(text, fmt.Sprintf("part-%d", k)) || typ == "image/png" && len(v.Imgs) == 1 && v.Imgs[0] > 0
			if !shows {
				continue
			}
			if v.Type != typ {
				t.Errorf("part %d shown as %s, want %s (%+v)", k, v.Type, typ, v)
			} else {
				seen[k] = true
			}
		}
		if strings.Contains(v.Text, "PNG") || strings.Contains(v.Text, "IHDR") {
			t.Errorf("an image shown as text (%s)", v.Type)
		}
		time.Sleep(20 * time.Millisecond) // pacing only
	}
}

// TestAdvanceTypesImg: an <img> in Chromium and WebKit reads a stream whose
// frames alternate PNG and JPEG, in advance mode: each frame is shown once
// it is sent.
func TestAdvanceTypesImg(t *testing.T) {
	for _, e := range engines {
		if e.name == "firefox" {
			continue // Firefox gets length mode
		}
		t.Run(e.name, func(t *testing.T) {
			if os.Getenv("MX_KNOWN_FAILURES") == "" {
				t.Skip("known failure: on a type change the Writer ends the announced part empty, and an empty part breaks a Chromium <img> for good; set MX_KNOWN_FAILURES=1 to run")
			}
			testAdvanceTypesImg(t, e.start(t))
		})
	}
}

func testAdvanceTypesImg(t *testing.T, d driver) {
	frames := framePNGs(t)
	mux := http.NewServeMux()
	next := make(chan struct{})
	mux.Handle("/stream", core.Handler(func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			for i := range 6 {
				p := core.PNG(frames[i])
				if i%2 == 1 {
					p = core.JPEG(jpegFrame(t, palette[i]))
				}
				if !yield(p) {
					return
				}
				select {
				case <-next:
				case <-ctx.Done():
					return
				}
			}
		}
	}, &core.Options{Mode: core.ModeAdvance}))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><body style="margin:0;background:#000"><img src="/stream" style="display:block;width:160px;height:120px">`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(next)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if i > 0 {
			next <- struct{}{}
		}
		wait := 10 * time.Second
		var got color.NRGBA
		ok := false
		for deadline := time.Now().Add(wait); !ok && time.Now().Before(deadline); {
			if shot, err := d.Screenshot(ctx); err == nil {
				if got, err = pixelAt(shot, 80, 60); err == nil {
					ok = near(got, palette[i])
				}
			}
			time.Sleep(50 * time.Millisecond) // pacing only
		}
		if !ok {
			t.Errorf("frame %d (%s): want %v, shows %v", i, map[bool]string{true: "jpeg", false: "png"}[i%2 == 1], palette[i], got)
		}
	}
}

func jpegFrame(t *testing.T, c color.NRGBA) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 160, 120))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
