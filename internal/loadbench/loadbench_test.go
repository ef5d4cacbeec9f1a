package loadbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/devcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves s on a new listener, publishing frames at fps, until the test
// ends. It returns the stream's URL.
func start(t *testing.T, s Server, frames [][]byte, fps float64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.Serve(l); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer wg.Done()
		Play(ctx, s, frames, fps)
	}()
	t.Cleanup(func() {
		cancel()
		s.Close()
		wg.Wait()
	})
	return "http://" + l.Addr().String() + "/stream"
}

var timestampRE = regexp.MustCompile(`^[0-9]{10}\.[0-9]{6}$`)

// TestServersSameFrames checks that every server sends the same frames with
// the same part headers, as the comparison needs.
func TestServersSameFrames(t *testing.T) {
	frames, err := Frames(160, 120, 75, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		for j := range i {
			if bytes.Equal(frames[i], frames[j]) {
				t.Fatalf("frames %d and %d are equal", i, j)
			}
		}
	}
	for _, name := range []string{"mx", "gin", "tcp"} {
		t.Run(name, func(t *testing.T) {
			s, err := New(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			url := start(t, s, frames, 50)
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatal(resp.Status)
			}
			seen := map[int]bool{}
			var last float64
			n := 0
			for p, err := range core.ReadResponse(resp, nil) {
				if err != nil {
					t.Fatal(err)
				}
				if ct := p.Header.Get("Content-Type"); ct != "image/jpeg" {
					t.Errorf("Content-Type %q", ct)
				}
				if cl := p.Header.Get("Content-Length"); cl != strconv.Itoa(len(p.Body)) {
					t.Errorf("Content-Length %q for %d bytes", cl, len(p.Body))
				}
				ts := p.Header.Get("X-Timestamp")
				if !timestampRE.MatchString(ts) {
					t.Errorf("X-Timestamp %q", ts)
				}
				f, _ := strconv.ParseFloat(ts, 64)
				if f < last || time.Since(time.Unix(int64(f), 0)) > time.Minute {
					t.Errorf("X-Timestamp %q after %f", ts, last)
				}
				last = f
				k := -1
				for i, fr := range frames {
					if bytes.Equal(fr, p.Body) {
						k = i
					}
				}
				if k < 0 {
					t.Fatalf("part %d is none of the frames", n)
				}
				seen[k] = true
				if n++; n == 8 {
					break
				}
			}
			if len(seen) < 4 {
				t.Errorf("saw frames %v, want distinct ones", seen)
			}
		})
	}
}

// TestServersHTTP2 serves mx and gin over TLS as cmd/fanout -tls does: a
// client that asks for HTTP/2 gets it, with the frames.
func TestServersHTTP2(t *testing.T) {
	frames, err := Frames(160, 120, 75, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := devcert.Config("", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mx", "gin"} {
		t.Run(name, func(t *testing.T) {
			s, _ := New(name, nil)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l = tls.NewListener(l, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				s.Serve(l)
			}()
			go func() {
				defer wg.Done()
				Play(ctx, s, frames, 50)
			}()
			defer func() {
				cancel()
				s.Close()
				wg.Wait()
			}()
			var protos http.Protocols
			protos.SetHTTP2(true)
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Protocols: &protos, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get("https://" + l.Addr().String() + "/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
			}
			n := 0
			for p, err := range core.ReadResponse(resp, nil) {
				if err != nil {
					t.Fatal(err)
				}
				if !timestampRE.MatchString(p.Header.Get("X-Timestamp")) || len(p.Body) == 0 {
					t.Errorf("part %d: header %v, %d bytes", n, p.Header, len(p.Body))
				}
				if n++; n == 3 {
					break
				}
			}
			if n != 3 {
				t.Errorf("%d parts, want 3", n)
			}
		})
	}
}

func TestServersNotFound(t *testing.T) {
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			s, _ := New(name, nil)
			url := start(t, s, nil, 0)
			resp, err := http.Get(url + "x")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("status %s, want 404", resp.Status)
			}
		})
	}
	if _, err := New("nginx", nil); err == nil {
		t.Error("unknown server accepted")
	}
}

// TestServersIdle checks that a stream with no frames sends its headers at
// once.
func TestServersIdle(t *testing.T) {
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			s, _ := New(name, nil)
			url := start(t, s, nil, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %s", resp.Status)
			}
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()
		})
	}
}

func TestTimestamp(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1700000000, 1000), "1700000000.000001"},
		{time.Unix(1700000000, 123456789), "1700000000.123456"},
		{time.Unix(1700000000, 0), "1700000000.000000"},
	} {
		if got := Timestamp(tt.t); got != tt.want {
			t.Errorf("Timestamp(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
