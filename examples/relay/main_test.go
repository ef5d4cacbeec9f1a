package main

import (
	"context"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/testpattern"
	"github.com/mxreplace/mx/internal/mxtest"
)

// app is this package built as a command. The tests run it as a process.
var app = mxtest.Binary{Pkg: "."}

func TestMain(m *testing.M) {
	mxtest.Main(m, &app)
}

// upstreamServer is a test camera: a Broadcaster served at /stream by an
// httptest server that counts the connections it accepts.
type upstreamServer struct {
	t       *testing.T
	cam     *core.Broadcaster
	handler http.Handler
	conns   atomic.Int64

	mu     sync.Mutex
	srv    *httptest.Server
	frames map[string]uint64 // body -> frame number, of every frame published
}

func newUpstream(t *testing.T) *upstreamServer {
	u := &upstreamServer{t: t, cam: &core.Broadcaster{}, frames: map[string]uint64{}}
	mux := http.NewServeMux()
	mux.Handle("/stream", core.Handler(u.cam.Subscribe, nil))
	u.handler = mux
	u.serve(nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u.cam.Shutdown(ctx)
		u.server().Close()
	})
	return u
}

// serve starts a server on ln (a new loopback listener if nil).
func (u *upstreamServer) serve(ln net.Listener) {
	srv := httptest.NewUnstartedServer(u.handler)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	srv.Start()
	u.mu.Lock()
	u.srv = srv
	u.mu.Unlock()
}

func (u *upstreamServer) server() *httptest.Server {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.srv
}

func (u *upstreamServer) url() string { return u.server().URL + "/stream" }

// restart closes the server, cutting every connection, and starts a new
// one on the same address.
func (u *upstreamServer) restart() {
	old := u.server()
	addr := old.Listener.Addr().String()
	old.Listener.Close() // no new connections, then cut the open ones
	old.CloseClientConnections()
	old.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		u.t.Fatalf("listening again on %s: %v", addr, err)
	}
	u.serve(ln)
}

// publish publishes test pattern frame n (160x120).
func (u *upstreamServer) publish(n uint64) {
	b := mxtest.Pattern(u.t, 160, 120, n)
	u.mu.Lock()
	u.frames[string(b)] = n
	u.mu.Unlock()
	if err := u.cam.Publish(core.JPEG(b)); err != nil {
		u.t.Fatal(err)
	}
}

// frameOf returns the number of the published frame with body b.
func (u *upstreamServer) frameOf(b []byte) (uint64, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n, ok := u.frames[string(b)]
	return n, ok
}

// run publishes frames 1, 2, 3, ... of a w x h pattern, one every
// interval, until the test ends.
func (u *upstreamServer) run(w, h int, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	u.t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		enc := testpattern.NewEncoder(testpattern.Pattern{Width: w, Height: h}, 70)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for n := uint64(1); ; n++ {
			b, err := enc.Encode(n, time.Now())
			if err != nil || u.cam.Publish(core.JPEG(b)) != nil {
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// startRelay runs the relay on upstream with extra flags.
func startRelay(t *testing.T, upstream string, args ...string) *mxtest.Proc {
	t.Helper()
	return mxtest.Start(t, app.Path(t), append([]string{"-upstream", upstream}, args...)...)
}

// viewer reads a relay stream part by part.
type viewer struct {
	t    *testing.T
	up   *upstreamServer
	next func() (core.Part, error, bool)
	last uint64
}

func newViewer(t *testing.T, up *upstreamServer, c *http.Client, url string) *viewer {
	resp := mxtest.Get(t, c, url)
	next, stop := iter.Pull2(core.ReadResponse(resp, nil))
	t.Cleanup(stop)
	return &viewer{t: t, up: up, next: next}
}

// waitFor reads parts until it gets frame n. Every part must be a frame
// the upstream published, byte for byte, and frames never go back.
func (v *viewer) waitFor(n uint64) {
	v.t.Helper()
	for {
		p, err, ok := v.next()
		if !ok || err != nil {
			v.t.Fatalf("viewer: stream ended waiting for frame %d: %v", n, err)
		}
		k, found := v.up.frameOf(p.Body)
		if !found {
			v.t.Fatalf("viewer: a part of %d bytes that the upstream never published", len(p.Body))
		}
		if k < v.last {
			v.t.Fatalf("viewer: frame %d after frame %d", k, v.last)
		}
		v.last = k
		mxtest.Timestamp(v.t, p.Header.Get(core.TimestampHeader))
		if k == n {
			return
		}
	}
}

func TestOneUpstreamConnection(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	base := startRelay(t, up.url()).URL
	c := mxtest.Client(t)
	var viewers []*viewer
	for range 6 {
		v := newViewer(t, up, c, base+"/stream")
		v.waitFor(1)
		viewers = append(viewers, v)
	}
	for n := uint64(2); n <= 5; n++ {
		up.publish(n)
		for _, v := range viewers {
			v.waitFor(n)
		}
	}
	if k, ok := up.frameOf(mxtest.ReadAll(t, mxtest.Get(t, c, base+"/snapshot"))); !ok || k != 5 {
		t.Errorf("snapshot: frame %d (%v), want 5", k, ok)
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 6 viewers, want 1", n)
	}
	if s := up.cam.Stats(); s.Viewers != 1 {
		t.Errorf("upstream has %d viewers, want 1", s.Viewers)
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	p := startRelay(t, up.url())
	v := newViewer(t, up, mxtest.Client(t), p.URL+"/stream")
	v.waitFor(1)

	// The upstream connection is cut.
	up.server().CloseClientConnections()
	mxtest.Eventually(t, 20*time.Second, "a second upstream connection", func() bool { return up.conns.Load() >= 2 })
	up.publish(2)
	v.waitFor(2)

	// The upstream server goes away and comes back on the same address.
	up.restart()
	mxtest.Eventually(t, 20*time.Second, "a third upstream connection", func() bool { return up.conns.Load() >= 3 })
	up.publish(3)
	v.waitFor(3)

	mxtest.Eventually(t, 10*time.Second, "two recoveries logged", func() bool {
		return strings.Count(p.Stderr(), "receiving again") >= 2
	})
}

// TestBackoff checks the reconnect schedule, and that a failure that
// repeats is logged once.
func TestBackoff(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	var (
		mu       sync.Mutex
		times    []time.Time
		failures = 3
	)
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		fail := len(times) <= failures
		mu.Unlock()
		if fail {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		up.handler.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(flaky)
	t.Cleanup(srv.Close) // after the relay's cleanup, which ends its request
	requests := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(times)
	}
	p := startRelay(t, srv.URL+"/stream")
	v := newViewer(t, up, mxtest.Client(t), p.URL+"/stream")
	v.waitFor(1) // after three 503s and a good connection

	// Cut the good connection: the next attempt comes after minBackoff
	// again, not after the 4 s that three failures had grown it to.
	srv.CloseClientConnections()
	mxtest.Eventually(t, 20*time.Second, "a fifth request", func() bool { return len(requests()) >= 5 })
	up.publish(2)
	v.waitFor(2)

	ts := requests()
	for i := 1; i <= failures; i++ {
		gap, want := ts[i].Sub(ts[i-1]), minBackoff<<(i-1)
		t.Logf("request %d came %v after request %d (backoff %v)", i+1, gap.Round(time.Millisecond), i, want)
		if gap < want {
			t.Errorf("request %d came %v after the one before, want at least %v", i+1, gap, want)
		}
	}
	if gap := ts[4].Sub(ts[3]); gap > 3*time.Second {
		t.Errorf("after a good connection, the next attempt came %v later: the backoff was not reset", gap)
	}
	if n := strings.Count(p.Stderr(), "503 Service Unavailable"); n != 1 {
		t.Errorf("the 503 failure logged %d times, want once", n)
	}
}

// TestStall: an upstream that sends nothing is dropped after -timeout,
// and the relay reconnects.
func TestStall(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	silent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(silent)
	t.Cleanup(srv.Close) // after the relay's cleanup, which ends its request
	p := startRelay(t, srv.URL, "-timeout", "200ms")
	mxtest.Eventually(t, 20*time.Second, "a reconnect after the stall", func() bool { return requests.Load() >= 2 })
	mxtest.Eventually(t, 20*time.Second, "the stall in the log", func() bool {
		return strings.Count(p.Stderr(), "nothing received for 200ms") == 1
	})

	// No frame yet: /snapshot answers 503 after a short wait.
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/snapshot", nil)
	resp, err := mxtest.Client(t).Do(req)
	if err != nil {
		t.Fatalf("/snapshot before the first frame: %v after %v", err, time.Since(start))
	}
	mxtest.ReadAll(t, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/snapshot before the first frame: %s, want 503", resp.Status)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("/snapshot before the first frame took %v, want a short wait", d)
	}
}

func TestFFmpeg(t *testing.T) {
	t.Parallel()
	mxtest.Tool(t, "ffmpeg")
	up := newUpstream(t)
	up.run(320, 240, 40*time.Millisecond)
	p := startRelay(t, up.url())
	var prev uint64
	for i, img := range mxtest.FFmpeg(t, p.URL+"/stream", 5) {
		n, ok := mxtest.ReadCounter(img)
		if !ok || n < prev {
			t.Errorf("ffmpeg frame %d: counter %d (found %v) after %d", i, n, ok, prev)
		}
		prev = n
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.run(320, 240, 40*time.Millisecond)
	p := startRelay(t, up.url())
	resp := mxtest.Get(t, mxtest.Client(t), p.URL+"/stream")
	mxtest.CheckIncreasing(t, mxtest.Frames(t, resp, 6, true))
}

func TestPage(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	p := startRelay(t, strings.Replace(up.url(), "http://", "http://cam:secret@", 1))
	body := string(mxtest.ReadAll(t, mxtest.Get(t, mxtest.Client(t), p.URL+"/?mx=length")))
	for _, want := range []string{`<img src="/stream?mx=length" alt="live stream">`, "Relaying http://cam:xxxxx@127.0.0.1:"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in the page:\n%s", want, body)
		}
	}
	if strings.Contains(body, "secret") {
		t.Errorf("the page shows the upstream's password")
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	mxtest.CheckAccess(t, func(t *testing.T, args ...string) string {
		up := newUpstream(t)
		up.run(160, 120, 40*time.Millisecond)
		return startRelay(t, up.url(), args...).URL
	})
}

// TestSafe: the server is safe to expose, also with viewers that stopped
// reading big, fast frames.
func TestSafe(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.run(1280, 720, 30*time.Millisecond)
	mxtest.CheckSafeServer(t, &app, "/stream", "-upstream", up.url())
}

// TestFlags: a bad command line exits 2 with a message.
func TestFlags(t *testing.T) {
	t.Parallel()
	const cam = "http://cam/stream"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-upstream"},
		{[]string{"-upstream", "cam:8080/stream"}, "-upstream"},
		{[]string{"-upstream", "ftp://cam/stream"}, "-upstream"},
		{[]string{"-upstream", cam, "-timeout", "0s"}, "-timeout"},
		{[]string{"-upstream", cam, "-types", "image/png,image/svg+xml"}, "image/svg+xml"},
		{[]string{"-upstream", cam, "-types", "text/html"}, "text/html"},
		{[]string{"-upstream", cam, "-user", "u"}, "-user"},
		{[]string{"-upstream", cam, "-allow-origin", "cam"}, "-allow-origin"},
	} {
		code, out := mxtest.Run(t, app.Path(t), tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d, output %q; want 2 and %q", tc.args, code, out, tc.want)
		}
	}
}
