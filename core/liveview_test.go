package core_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mxreplace/mx/core"
)

// TestLiveViewHandler: the script is served as JavaScript with an ETag that
// revalidates, to GET and HEAD only, and stays a few KB.
func TestLiveViewHandler(t *testing.T) {
	srv := httptest.NewServer(core.LiveViewHandler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || string(b) != core.LiveViewScript {
		t.Fatalf("GET: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(b))
	}
	if !strings.Contains(string(b), `customElements.define("mx-stream"`) {
		t.Error("script does not define <mx-stream>")
	}
	if len(b) > 12<<10 {
		t.Errorf("script is %d bytes, want a few KB", len(b))
	}
	etag := res.Header.Get("ETag")
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("If-None-Match", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if etag == "" || res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %d, want 304", etag, res.StatusCode)
	}
	res, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", res.StatusCode)
	}
}

// A page with a live view of a Broadcaster: the element reads /stream as
// multipart/mixed, so it works in every browser, WebKit included.
func ExampleLiveViewHandler() {
	var cam core.Broadcaster
	cam.Timestamps = true // for the frame age (the "age" attribute)
	mux := http.NewServeMux()
	mux.Handle("GET /mx-stream.js", core.LiveViewHandler())
	mux.Handle("GET /stream", core.Handler(cam.Subscribe, nil))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><script src="/mx-stream.js"></script>
<mx-stream src="/stream" age style="width:640px"></mx-stream>`)
	})
	http.ListenAndServe(":8080", mux)
}
