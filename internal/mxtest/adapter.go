package mxtest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// Mount returns a framework's router with the framework's usual
// middleware. It serves src with opts at "/", for GET and HEAD, through
// the adapter under test. An adapter panics here on invalid options.
type Mount func(src core.Source, opts *core.Options) http.Handler

// CheckAdapter runs the checks every framework adapter must pass, through
// the framework's real router. Every part reaches the client complete as
// soon as it is written, over HTTP/1.1 and HTTP/2. The demo arrives on
// schedule. A client that leaves stops the producer at once. HEAD gets the
// stream's headers only. Options reach core.Serve, and invalid ones panic
// at registration. The subtests are parallel.
func CheckAdapter(t *testing.T, mount Mount) {
	for _, http2 := range []bool{false, true} {
		name := "PartByPart/HTTP1"
		if http2 {
			name = "PartByPart/HTTP2"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := NewStepper(Parts(9))
			srv, c := Serve(t, mount(s.Source, nil), http2)
			resp := Get(t, c, srv.URL)
			if http2 && resp.ProtoMajor != 2 {
				t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
			}
			s.Check(t, Open(t, resp, resp.Body))
		})
	}

	t.Run("Demo", func(t *testing.T) {
		t.Parallel()
		var timed Timed
		srv, c := Serve(t, mount(timed.Wrap(demo.Source), nil), false)
		got := OpenGet(t, c, srv.URL).All(t, 30*time.Second)
		CheckDemo(t, got, timed.Yields())
	})

	t.Run("Disconnect", func(t *testing.T) {
		t.Parallel()
		b := NewBlocker()
		srv, c := Serve(t, mount(b.Source, nil), false)
		b.CheckDisconnect(t, c, srv.URL)
	})

	t.Run("Head", func(t *testing.T) {
		t.Parallel()
		srv, c := Serve(t, mount(demo.Source, nil), false)
		resp := Do(t, c, t.Context(), http.MethodHead, srv.URL)
		CheckHeaders(t, resp)
		if b := ReadAll(t, resp); len(b) != 0 {
			t.Errorf("HEAD: %d bytes of body, want none", len(b))
		}
	})

	t.Run("Options", func(t *testing.T) {
		t.Parallel()
		opts := &core.Options{Boundary: "fixed-boundary"}
		srv, c := Serve(t, mount(NewStepper(Parts(1)).Source, opts), false)
		st := OpenGet(t, c, srv.URL)
		if b := CheckHeaders(t, st.Resp); b != "fixed-boundary" {
			t.Errorf("boundary %q, want fixed-boundary", b)
		}
		if got := st.All(t, 10*time.Second); len(got) != 1 {
			t.Errorf("got %d parts, want 1", len(got))
		}
	})

	for _, tc := range []struct {
		name string
		opts core.Options
	}{
		{"boundary with a space", core.Options{Boundary: "a b"}},
		{"boundary too long", core.Options{Boundary: strings.Repeat("b", 71)}},
		{"unknown mode", core.Options{Mode: core.Mode(42)}},
	} {
		t.Run("InvalidOptions/"+tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("no panic at registration")
				}
			}()
			mount(demo.Source, &tc.opts)
		})
	}
}
