package core_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/mxreplace/mx/core"
)

func ExampleWriter() {
	var out strings.Builder
	w := core.NewWriter(&out)
	w.SetBoundary("frame")
	w.WritePart(core.Text("one"))
	w.WritePart(core.Text("two"))
	w.Close()
	// On the wire every line ends in CRLF.
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n"))
	// Output:
	// --frame
	// Content-Type: text/plain; charset=utf-8
	// Content-Length: 3
	//
	// one
	// --frame
	// Content-Type: text/plain; charset=utf-8
	// Content-Length: 3
	//
	// two
	// --frame
	// Content-Type: text/plain; charset=utf-8
	// Content-Length: 3
	// Mx-Final: repeat
	//
	// two
	// --frame--
}

// countdown is a Source: it yields a part a tick and stops early when the
// client leaves.
func countdown(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		for i := 3; i > 0; i-- {
			if !yield(core.Text(fmt.Sprint(i))) {
				return
			}
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		yield(core.HTML("<h1>Liftoff!</h1>"))
	}
}

func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle("GET /countdown", core.Handler(countdown, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/countdown")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	for part, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s\n", part.Header.Get("Content-Type"), part.Body)
	}
	// Output:
	// text/plain; charset=utf-8: 3
	// text/plain; charset=utf-8: 2
	// text/plain; charset=utf-8: 1
	// text/html; charset=utf-8: <h1>Liftoff!</h1>
}

func ExampleRead() {
	stream := "--cam\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\n\xff\xd8\xff\xd9\r\n--cam\r\n" +
		"Content-Type: image/jpeg\r\nContent-Length: 4\r\nMx-Final: repeat\r\n\r\n\xff\xd8\xff\xd9\r\n--cam--\r\n"
	for part, err := range core.Read(strings.NewReader(stream), "cam", &core.ReadOptions{MaxPartSize: 1 << 20}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(part.ContentType(), len(part.Body), "bytes")
	}
	// A cut stream ends with an error.
	for _, err := range core.Read(io.LimitReader(strings.NewReader(stream), 40), "cam", nil) {
		fmt.Println("error:", err != nil)
	}
	// Output:
	// image/jpeg 4 bytes
	// error: true
}

func ExampleBroadcaster() {
	var cam core.Broadcaster
	cam.Publish(core.JPEG([]byte("frame 1")))
	cam.Publish(core.JPEG([]byte("frame 2")))
	latest, _ := cam.Snapshot()
	fmt.Printf("%s\n", latest.Body)

	http.Handle("GET /stream", core.Handler(cam.Subscribe, nil))
	http.Handle("GET /snapshot", cam.SnapshotHandler())
	// Output: frame 2
}
