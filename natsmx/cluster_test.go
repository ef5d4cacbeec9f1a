package natsmx_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/mxtest"
	"github.com/mxreplace/mx/natsmx"
)

// Viewers of edges attached to different nodes of a cluster all get the
// origin's parts, in order, none twice.
func TestClusterViewers(t *testing.T) {
	nodes := runCluster(t, 3)
	o := newOrigin(t, connect(t, nodes[0].ClientURL()))
	var viewers []*viewer
	for _, s := range nodes {
		_, srv := newEdge(t, connect(t, s.ClientURL()), nil)
		viewers = append(viewers, watch(t, srv.URL+"/stream"), watch(t, srv.URL+"/stream"))
	}
	lockstep(t, o, viewers, 1, 30)
	for i, s := range nodes {
		if n := subs(t, s, subject); n != 1 {
			t.Errorf("node %d: %d subscriptions to %s, want 1 (one per edge)", i, n, subject)
		}
	}
}

// produce publishes numbered parts from 1 every interval until ctx is
// done, and returns the number of the last one published.
func produce(ctx context.Context, o *natsmx.Origin, interval time.Duration) (last func() int) {
	var mu sync.Mutex
	n := 0
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			mu.Lock()
			n++
			o.Publish(numbered(n))
			mu.Unlock()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// When the node an edge is attached to stops, the edge reconnects to
// another node: its viewers keep their streams, in order, and get new parts
// within 2 s.
func TestNodeLoss(t *testing.T) {
	nodes := runCluster(t, 3)
	o := newOrigin(t, connect(t, nodes[0].ClientURL()))
	// The edge knows only node 1; the cluster tells it of the others.
	nc := connect(t, nodes[1].ClientURL())
	mxtest.Eventually(t, 10*time.Second, "servers discovered", func() bool { return len(nc.DiscoveredServers()) == 2 })
	e, srv := newEdge(t, nc, nil)
	v := watch(t, srv.URL+"/stream")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := produce(ctx, o, 20*time.Millisecond)

	prev := 0
	read := func(d time.Duration) int {
		t.Helper()
		n := number(t, v.next(t, d))
		if n <= prev {
			t.Fatalf("part %d after part %d", n, prev)
		}
		prev = n
		return n
	}
	for range 10 {
		read(10 * time.Second)
	}
	// Parts in flight before the stop may still come; the first part
	// published after it must come within 2 s.
	before := published()
	stopped := time.Now()
	nodes[1].Shutdown()
	for read(10*time.Second) <= before {
	}
	gap := time.Since(stopped)
	mxtest.Eventually(t, 10*time.Second, "reconnected", func() bool { return nc.IsConnected() })
	t.Logf("node %s stopped; the edge reconnected to %s; a new part after %v", nodes[1].Name(), nc.ConnectedUrl(), gap.Round(time.Millisecond))
	if gap > 2*time.Second {
		t.Errorf("new parts %v after the node stopped, want within 2 s", gap)
	}
	for range 10 {
		read(10 * time.Second)
	}
	if st := e.Stats(); !st.Subscribed || st.Viewers != 1 {
		t.Fatalf("edge stats %+v", st)
	}
}

// An edge whose viewer stopped reading neither grows in memory nor slows
// another edge: both skip to the latest part.
func TestSlowEdge(t *testing.T) {
	s := runServer(t, 0)
	o := newOrigin(t, connect(t, s.ClientURL()))
	slow, slowSrv := newEdge(t, connect(t, s.ClientURL()), nil)
	_, fastSrv := newEdge(t, connect(t, s.ClientURL()), nil)

	// A viewer that sends its request and never reads.
	conn, err := net.Dial("tcp", slowSrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	mxtest.Eventually(t, 10*time.Second, "slow viewer", func() bool { return slow.Stats().Viewers == 1 })
	fast := watch(t, fastSrv.URL+"/stream")
	lockstep(t, o, []*viewer{fast}, 1, 2)

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	const parts, size = 300, 128 << 10 // 37.5 MiB through each edge
	body := bytes.Repeat([]byte{'x'}, size)
	last := fmt.Sprint(parts + 1)
	for n := 2; n <= parts; n++ {
		o.Publish(core.Part{Header: map[string][]string{"Content-Type": {"application/octet-stream"}}, Body: body})
		if n%50 == 0 {
			runtime.Gosched()
		}
	}
	o.Publish(core.Text(last))
	deadline := time.After(20 * time.Second)
	for got := false; !got; {
		select {
		case p := <-fast.parts:
			got = string(p.Body) == last
		case <-deadline:
			t.Fatal("fast edge: no last part within 20 s")
		}
	}
	mxtest.Eventually(t, 20*time.Second, "slow edge gets the last part", func() bool {
		p, ok := slow.Snapshot()
		return ok && string(p.Body) == last
	})
	after := heap()
	grown := int64(after) - int64(before)
	st := slow.Stats()
	t.Logf("heap %d -> %d KiB after %d MiB through each edge; slow edge: %+v", before>>10, after>>10, parts*size>>20, st)
	if grown > 16<<20 {
		t.Errorf("heap grew by %d MiB", grown>>20)
	}
	if n, _ := strconv.Atoi(last); st.Received < 2 || st.Received > uint64(n) {
		t.Errorf("slow edge received %d parts", st.Received)
	}
}

// When the origin's node stops, the origin reconnects to another node; a
// part published meanwhile still reaches the edges, once (the origin sends
// it when it is back, or at once if it already is), and so do the next.
func TestOriginNodeLoss(t *testing.T) {
	nodes := runCluster(t, 3)
	onc := connect(t, nodes[1].ClientURL())
	mxtest.Eventually(t, 10*time.Second, "servers discovered", func() bool { return len(onc.DiscoveredServers()) == 2 })
	o := newOrigin(t, onc)
	_, srv := newEdge(t, connect(t, nodes[0].ClientURL()), nil)
	v := watch(t, srv.URL+"/stream")
	lockstep(t, o, []*viewer{v}, 1, 5)
	stopped := time.Now()
	nodes[1].Shutdown()
	if err := o.Publish(numbered(5)); err != nil {
		t.Fatal(err)
	}
	if n := number(t, v.next(t, 10*time.Second)); n != 5 {
		t.Fatalf("got part %d, want 5", n)
	}
	gap := time.Since(stopped)
	t.Logf("the part published as the origin's node stopped came after %v", gap.Round(time.Millisecond))
	if gap > 2*time.Second {
		t.Errorf("the part came %v after the node stopped, want within 2 s", gap)
	}
	mxtest.Eventually(t, 10*time.Second, "origin reconnected", onc.IsConnected)
	for n := 6; n < 10; n++ {
		o.Publish(numbered(n))
		if got := number(t, v.next(t, 10*time.Second)); got != n {
			t.Fatalf("got part %d, want %d", got, n)
		}
	}
}
