package natsmx_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/mxtest"
	"github.com/mxreplace/mx/natsmx"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const subject = "mx.test"

var serverNames atomic.Int64

// runServer starts an embedded NATS server on a free loopback port; with
// routes it joins their cluster. It is shut down at the end of the test
// (stopping it earlier is fine).
func runServer(t testing.TB, maxPayload int32, routes ...*url.URL) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: fmt.Sprintf("n%d", serverNames.Add(1)),
		Host:       "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		MaxPayload: maxPayload,
		Cluster:    server.ClusterOpts{Name: "mx", Host: "127.0.0.1", Port: -1},
		Routes:     routes,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// runCluster starts n routed servers and waits until each knows the others.
func runCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	first := runServer(t, 0)
	route := &url.URL{Scheme: "nats", Host: first.ClusterAddr().String()}
	nodes := []*server.Server{first}
	for i := 1; i < n; i++ {
		nodes = append(nodes, runServer(t, 0, route))
	}
	mxtest.Eventually(t, 20*time.Second, "cluster routes", func() bool {
		for _, s := range nodes {
			if s.NumRemotes() != n-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// connect connects to url; the connection retries forever, quickly, keeps
// its slow-consumer notices to itself, and is closed at the end of the
// test.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.Name(t.Name()), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// subs returns the number of client subscriptions to subject on s.
func subs(t testing.TB, s *server.Server, subject string) int {
	t.Helper()
	sz, err := s.Subsz(&server.SubszOptions{Subscriptions: true, Test: subject})
	if err != nil {
		t.Fatal(err)
	}
	return sz.Total
}

// newOrigin returns an Origin on nc with a timestamping Broadcaster, shut
// down at the end of the test.
func newOrigin(t testing.TB, nc *nats.Conn) *natsmx.Origin {
	t.Helper()
	return newOriginWith(t, nc, &core.Broadcaster{Timestamps: true})
}

// newOriginWith returns an Origin of b on nc, shut down when the test ends.
func newOriginWith(t testing.TB, nc *nats.Conn, b *core.Broadcaster) *natsmx.Origin {
	t.Helper()
	o, err := natsmx.NewOrigin(nc, subject, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		o.Shutdown(ctx)
	})
	return o
}

// newEdge returns an Edge on nc served over HTTP; the Edge is shut down
// (ending its streams cleanly) and the server closed at the end of the test.
func newEdge(t testing.TB, nc *nats.Conn, opts *natsmx.EdgeOptions) (*natsmx.Edge, *httptest.Server) {
	t.Helper()
	e, err := natsmx.NewEdge(nc, subject, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/stream", core.Handler(e.Subscribe, nil))
	mux.Handle("/snapshot", e.SnapshotHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
		srv.Close()
	})
	return e, srv
}

// numbered is part n of a test stream: its body is the decimal n.
func numbered(n int) core.Part { return core.Text(strconv.Itoa(n)) }

// number returns the n of a numbered part.
func number(t testing.TB, p core.Part) int {
	t.Helper()
	n, err := strconv.Atoi(string(p.Body))
	if err != nil {
		t.Fatalf("part body %q is not a number", p.Body)
	}
	return n
}

// viewer reads one stream over HTTP in its own goroutine.
type viewer struct {
	parts  chan core.Part // every part read, in order
	end    chan error     // the stream's end: nil for a clean end
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watch opens url and reads its parts until the stream ends or the test
// does.
func watch(t testing.TB, url string) *viewer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	v := &viewer{parts: make(chan core.Part, 100000), end: make(chan error, 1), cancel: cancel}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		defer resp.Body.Close()
		for p, err := range core.ReadResponse(resp, nil) {
			if err != nil {
				v.end <- err
				return
			}
			v.parts <- p
		}
		v.end <- nil
	}()
	t.Cleanup(v.stop)
	return v
}

// stop leaves the stream and waits for the reading goroutine.
func (v *viewer) stop() {
	v.cancel()
	v.wg.Wait()
}

// next returns the next part, failing the test after d.
func (v *viewer) next(t testing.TB, d time.Duration) core.Part {
	t.Helper()
	select {
	case p := <-v.parts:
		return p
	case err := <-v.end:
		t.Fatalf("stream ended (%v) while waiting for a part", err)
	case <-time.After(d):
		t.Fatalf("no part within %v", d)
	}
	return core.Part{}
}
