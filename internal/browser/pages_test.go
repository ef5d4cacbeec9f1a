package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// stamps records, for one stream, when each part was about to be written
// and when the stream ended.
type stamps struct {
	mu       sync.Mutex
	before   []time.Time
	streams  int
	finished time.Time
}

// record wraps src so that s learns when each of its parts goes out.
func (s *stamps) record(src core.Source) core.Source {
	return func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			s.mu.Lock()
			s.streams++
			s.mu.Unlock()
			defer func() { // after the last part (Serve stops at a Last part) or a cut
				s.mu.Lock()
				s.finished = time.Now()
				s.mu.Unlock()
			}()
			for p := range src(ctx) {
				s.mu.Lock()
				s.before = append(s.before, time.Now())
				s.mu.Unlock()
				if !yield(p) {
					return
				}
			}
		}
	}
}

// view is what a browser showed at one moment: the document's type, its
// text, its first heading's HTML and its images' natural widths (-1 for a
// broken image).
type view struct {
	Type string  `json:"type"`
	Text string  `json:"text"`
	H1   *string `json:"h1"`
	Imgs []int   `json:"imgs"`
}

// observe reads what the page shows.
const observe = `const d = document, h = d.querySelector("h1");
return {type: d.contentType || "", text: d.body ? d.body.innerText : "",
  h1: h ? h.innerHTML : null,
  imgs: [...d.images].map(i => i.complete && i.naturalWidth === 0 ? -1 : i.naturalWidth)};`

// sample is one observation and the interval within which it was made.
type sample struct {
	sent, recv time.Time
	v          view
}

// demoPart returns the index of the demo part that v shows, -1 for none
// (a blank moment between parts), or an error if v shows a part under a
// wrong type (HTML as text, a broken image).
func demoPart(v view) (int, error) {
	for _, w := range v.Imgs {
		if w < 0 {
			return -1, fmt.Errorf("broken image (%s)", v.Type)
		}
	}
	text := strings.TrimSpace(v.Text)
	if strings.Contains(text, "<h1>") || strings.Contains(text, "doctype") || strings.Contains(text, "\x89PNG") {
		return -1, fmt.Errorf("markup shown as text: %.60q", text)
	}
	png := len(v.Imgs) == 1 && v.Imgs[0] == 48
	switch {
	case v.H1 == nil && png && text == "":
		return 6, nil
	case v.H1 == nil && len(v.Imgs) == 0 && text == strings.TrimSpace(demo.Text1):
		return 0, nil // or 2 or 4
	case v.H1 == nil && len(v.Imgs) == 0 && text == strings.TrimSpace(demo.Text2):
		return 1, nil // or 3 or 5
	case v.H1 != nil:
		for k := 7; k >= 0; k-- {
			want := strings.TrimSuffix(strings.TrimPrefix(demo.HTML(k), "<!doctype html><h1>"), "</h1>")
			if k == 7 {
				want = want[:strings.Index(want, "</h1>")]
			}
			if *v.H1 == want && (k == 7) == png && (k == 7 || len(v.Imgs) == 0) {
				return 7 + k, nil
			}
		}
	}
	return -1, nil
}

// demoRun is what one browser showed of one demo stream.
type demoRun struct {
	onTime    [15]bool // part k seen after it was written and before k+1 was
	wrong     []string
	last      bool // the last page (heading and image) at the end
	streams   int
	lastViews []view
}

func (r demoRun) count() int {
	n := 0
	for _, ok := range r.onTime {
		if ok {
			n++
		}
	}
	return n
}

// runDemo serves the demo with opts, opens url (relative to the server) in d
// and watches the page until 3 s after the stream ended.
func runDemo(t *testing.T, d driver, opts *core.Options, path string) demoRun {
	var st stamps
	mux := http.NewServeMux()
	mux.Handle("/{$}", core.Handler(st.record(demo.Source), opts))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Navigate(ctx, srv.URL+path); err != nil {
		t.Fatal(err)
	}
	var samples []sample
	var end time.Time
	for ctx.Err() == nil {
		sent := time.Now()
		res, err := d.ExecuteScript(ctx, observe)
		recv := time.Now()
		if err == nil {
			var v view
			if json.Unmarshal(res, &v) == nil {
				samples = append(samples, sample{sent, recv, v})
			}
		}
		st.mu.Lock()
		fin := st.finished
		st.mu.Unlock()
		if !fin.IsZero() && end.IsZero() {
			end = fin.Add(3 * time.Second)
		}
		if !end.IsZero() && recv.After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond) // pace the polling, not an assertion
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var r demoRun
	r.streams = st.streams
	if len(st.before) != 15 {
		t.Fatalf("the server wrote %d parts, want 15 (did the page load?)", len(st.before))
	}
	for _, s := range samples {
		k, err := demoPart(s.v)
		if err != nil {
			r.wrong = append(r.wrong, fmt.Sprintf("%v at +%v", err, s.recv.Sub(st.before[0]).Round(time.Millisecond)))
			continue
		}
		if k < 0 {
			continue
		}
		// Parts 0-5 alternate two texts: match the one current then.
		for j := k; j < 15 && (j == k || j < 6); j += 2 {
			if !s.sent.Before(st.before[j]) && (j == 14 || !s.recv.After(st.before[j+1])) {
				r.onTime[j] = true
			}
		}
		if k == 14 && !st.finished.IsZero() && s.sent.After(st.finished) {
			r.last = true
		}
	}
	if len(samples) > 0 {
		r.lastViews = []view{samples[len(samples)-1].v}
	}
	t.Logf("%d samples; parts shown while current: %v", len(samples), r.onTime)
	return r
}

// TestDemoTopLevel opens the demo as a top-level page in each engine: each
// part must be shown while it is current (14 of 15 at least), none under a
// wrong type, and the last page must stay at the end.
func TestDemoTopLevel(t *testing.T) {
	eachEngine(t, func(t *testing.T, d driver) {
		r := runDemo(t, d, nil, "/")
		if n := r.count(); n < 14 {
			t.Errorf("%d of 15 parts shown while current, want at least 14: %v", n, r.onTime)
		}
		if len(r.wrong) > 0 {
			t.Errorf("parts shown under a wrong type: %q", r.wrong)
		}
		if !r.last {
			t.Errorf("the last page (heading and image) is not shown at the end; last view %+v", r.lastViews)
		}
		if r.streams != 1 {
			t.Errorf("%d stream requests, want 1", r.streams)
		}
	})
}

// TestDemoModes measures what each engine shows per mode, for the
// project's table; it asserts nothing. Run it with MX_BROWSER_TABLE=1.
func TestDemoModes(t *testing.T) {
	if os.Getenv("MX_BROWSER_TABLE") == "" {
		t.Skip("a measurement, not a test: set MX_BROWSER_TABLE=1 to run it")
	}
	eachEngine(t, func(t *testing.T, d driver) {
		for _, path := range []string{"/?mx=length", "/?mx=advance", "/?mx=page"} {
			r := runDemo(t, d, nil, path)
			t.Logf("TABLE %s %s: %d/15 on time, wrong type %d, last page %v, streams %d",
				t.Name(), path, r.count(), len(r.wrong), r.last, r.streams)
		}
	})
}
