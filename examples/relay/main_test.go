package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/liveapp"
	"github.com/mxreplace/mx/internal/liveapp/livetest"
	"github.com/mxreplace/mx/internal/testpattern"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
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
	b := livetest.Pattern(u.t, 160, 120, n)
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

// logBuffer collects the relay's log lines and shows them in the test log.
type logBuffer struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(b)))
	return l.buf.Write(b)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func testConfig(t *testing.T, upstream string) (config, *logBuffer) {
	logs := &logBuffer{t: t}
	return config{Upstream: upstream, Timeout: defaultTimeout, Logger: log.New(logs, "", 0)}, logs
}

// startRelay runs the relay in-process on a loopback server and returns its
// base URL.
func startRelay(t *testing.T, cfg config) (string, *core.Broadcaster) {
	t.Helper()
	h, cam, stop, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return livetest.Serve(t, h, cam, stop), cam
}

// viewer reads a relay stream part by part.
type viewer struct {
	t    *testing.T
	up   *upstreamServer
	next func() (core.Part, error, bool)
	last uint64
}

func newViewer(t *testing.T, up *upstreamServer, c *http.Client, url string) *viewer {
	resp := livetest.Get(t, livetest.Context(t), c, url)
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
		livetest.Timestamp(v.t, p.Header.Get(core.TimestampHeader))
		if k == n {
			return
		}
	}
}

func TestOneUpstreamConnection(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	cfg, _ := testConfig(t, up.url())
	base, cam := startRelay(t, cfg)
	c := livetest.Client(t)
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
	resp := livetest.Get(t, livetest.Context(t), c, base+"/snapshot")
	if k, ok := up.frameOf(livetest.ReadAll(t, resp)); !ok || k != 5 {
		t.Errorf("snapshot: frame %d (%v), want 5", k, ok)
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 6 viewers, want 1", n)
	}
	if s := up.cam.Stats(); s.Viewers != 1 {
		t.Errorf("upstream has %d viewers, want 1", s.Viewers)
	}
	if s := cam.Stats(); s.Viewers != 6 || s.Published != 5 {
		t.Errorf("relay Stats %+v, want 6 viewers and 5 frames published", s)
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	cfg, logs := testConfig(t, up.url())
	base, _ := startRelay(t, cfg)
	v := newViewer(t, up, livetest.Client(t), base+"/stream")
	v.waitFor(1)

	// The upstream connection is cut.
	up.server().CloseClientConnections()
	livetest.Eventually(t, 20*time.Second, "a second upstream connection", func() bool { return up.conns.Load() >= 2 })
	up.publish(2)
	v.waitFor(2)

	// The upstream server goes away and comes back on the same address.
	up.restart()
	livetest.Eventually(t, 20*time.Second, "a third upstream connection", func() bool { return up.conns.Load() >= 3 })
	up.publish(3)
	v.waitFor(3)

	if n := logs.count("receiving again"); n < 2 {
		t.Errorf("%d recoveries logged, want 2", n)
	}
}

// TestBackoff checks the reconnect schedule and that a failure that
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
		return append([]time.Time(nil), times...)
	}
	cfg, logs := testConfig(t, srv.URL+"/stream")
	base, _ := startRelay(t, cfg)
	v := newViewer(t, up, livetest.Client(t), base+"/stream")
	v.waitFor(1) // after three 503s and a good connection

	// Cut the good connection: the next attempt comes after minBackoff
	// again, not after the 4 s that three failures had grown it to.
	srv.CloseClientConnections()
	livetest.Eventually(t, 20*time.Second, "a fifth request", func() bool { return len(requests()) >= 5 })
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
	} else {
		t.Logf("after a good connection, the next attempt came %v later", gap.Round(time.Millisecond))
	}
	if n := logs.count("503 Service Unavailable"); n != 1 {
		t.Errorf("the 503 failure logged %d times, want once", n)
	}
}

// TestStall checks that an upstream that sends nothing is dropped after
// -timeout and reconnected.
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
	cfg, logs := testConfig(t, srv.URL)
	cfg.Timeout = 200 * time.Millisecond
	startRelay(t, cfg)
	livetest.Eventually(t, 20*time.Second, "a reconnect after the stall", func() bool { return requests.Load() >= 2 })
	livetest.Eventually(t, 20*time.Second, "the stall in the log", func() bool { return logs.count("nothing received for 200ms") == 1 })
}

func TestFFmpeg(t *testing.T) {
	t.Parallel()
	livetest.Tool(t, "ffmpeg")
	up := newUpstream(t)
	up.run(320, 240, 40*time.Millisecond)
	cfg, _ := testConfig(t, up.url())
	base, _ := startRelay(t, cfg)
	var prev uint64
	for i, img := range livetest.FFmpeg(t, base+"/stream", 5) {
		n, ok := testpattern.ReadCounter(img)
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
	cfg, _ := testConfig(t, up.url())
	base, _ := startRelay(t, cfg)
	resp := livetest.Get(t, livetest.Context(t), livetest.Client(t), base+"/stream")
	livetest.CheckIncreasing(t, livetest.Frames(t, resp, 6, true))
}

func TestPage(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.publish(1)
	u := strings.Replace(up.url(), "http://", "http://cam:secret@", 1)
	cfg, _ := testConfig(t, u)
	base, _ := startRelay(t, cfg)
	resp := livetest.Get(t, livetest.Context(t), livetest.Client(t), base+"/?mx=length")
	body := string(livetest.ReadAll(t, resp))
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
	livetest.CheckAccess(t, func(t *testing.T, a liveapp.Access) string {
		up := newUpstream(t)
		up.run(160, 120, 40*time.Millisecond)
		cfg, _ := testConfig(t, up.url())
		cfg.Access = a
		base, _ := startRelay(t, cfg)
		return base
	})
}

func TestFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"-upstream", "http://cam/stream"}, io.Discard)
	if want := (config{Addr: ":8080", Upstream: "http://cam/stream", Timeout: defaultTimeout}); err != nil || cfg != want {
		t.Errorf("got %+v, %v; want %+v", cfg, err, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-upstream URL is required"},
		{[]string{"-upstream", "cam:8080/stream"}, "want an http:// or https:// URL"},
		{[]string{"-upstream", "ftp://cam/stream"}, "want an http:// or https:// URL"},
		{[]string{"-upstream", "http://cam/stream", "-timeout", "0s"}, "-timeout"},
		{[]string{"-upstream", "http://cam/stream", "-user", "u"}, "-user needs -pass"},
		{[]string{"-upstream", "http://cam/stream", "-allow-origin", "cam"}, "-allow-origin"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		var fe *liveapp.FlagError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want a *liveapp.FlagError with %q", tc.args, err, tc.want)
		}
	}
}
