package natsmx_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/mxtest"
	"github.com/mxreplace/mx/natsmx"
)

// lockstep publishes parts from..to-1 through o, each once every viewer has
// the previous one, and checks that each viewer gets exactly these parts.
// Before it, it publishes warm-up parts until every viewer has one, so that
// the edges' subscriptions have reached the origin's node.
func lockstep(t *testing.T, o *natsmx.Origin, viewers []*viewer, from, to int) {
	t.Helper()
	warm := -1000
	for i, v := range viewers {
		for got := false; !got; {
			o.Publish(numbered(warm))
			warm++
			select {
			case <-v.parts:
				got = true
			case <-time.After(100 * time.Millisecond):
			}
		}
		_ = i
	}
	// Drain what the warm-up left.
	o.Publish(numbered(from - 1))
	for _, v := range viewers {
		for {
			if number(t, v.next(t, 10*time.Second)) == from-1 {
				break
			}
		}
	}
	for n := from; n < to; n++ {
		if err := o.Publish(numbered(n)); err != nil {
			t.Fatal(err)
		}
		for i, v := range viewers {
			p := v.next(t, 10*time.Second)
			if got := number(t, p); got != n {
				t.Fatalf("viewer %d: got part %d, want %d", i, got, n)
			}
			if p.Header.Get(core.TimestampHeader) == "" {
				t.Fatalf("viewer %d: part %d has no %s", i, n, core.TimestampHeader)
			}
			if p.Header.Get(natsmx.SeqHeader) != "" || p.Header.Get(natsmx.OriginHeader) != "" {
				t.Fatalf("viewer %d: part %d shows the edge's headers: %v", i, n, p.Header)
			}
		}
	}
}

func TestOriginToEdges(t *testing.T) {
	s := runServer(t, 0)
	o := newOrigin(t, connect(t, s.ClientURL()))
	var viewers []*viewer
	for range 2 {
		_, srv := newEdge(t, connect(t, s.ClientURL()), nil)
		viewers = append(viewers, watch(t, srv.URL+"/stream"), watch(t, srv.URL+"/stream"))
	}
	lockstep(t, o, viewers, 1, 50)
}

// The X-Timestamp a viewer of an edge sees is the one the origin's
// Broadcaster set at publish, byte for byte.
func TestTimestampFromOrigin(t *testing.T) {
	s := runServer(t, 0)
	b := &core.Broadcaster{Timestamps: true}
	o := newOriginWith(t, connect(t, s.ClientURL()), b)
	_, srv := newEdge(t, connect(t, s.ClientURL()), nil)
	v := watch(t, srv.URL+"/stream")
	lockstep(t, o, []*viewer{v}, 1, 2)
	o.Publish(numbered(7))
	p := v.next(t, 10*time.Second)
	want, _ := b.Snapshot()
	if got, want := p.Header.Get(core.TimestampHeader), want.Header.Get(core.TimestampHeader); got != want {
		t.Fatalf("edge X-Timestamp %q, origin's %q", got, want)
	}
}

// A new viewer gets the latest part at once, from the origin, not at the
// next publish.
func TestLatestAtOnce(t *testing.T) {
	s := runServer(t, 0)
	o := newOrigin(t, connect(t, s.ClientURL()))
	e, srv := newEdge(t, connect(t, s.ClientURL()), nil)
	for n := 1; n <= 3; n++ {
		o.Publish(numbered(n))
	}
	v := watch(t, srv.URL+"/stream")
	if got := number(t, v.next(t, 10*time.Second)); got != 3 {
		t.Fatalf("first part %d, want the latest, 3", got)
	}
	if st := e.Stats(); st.Received != 1 || st.Stale != 0 || !st.Subscribed || st.Viewers != 1 {
		t.Fatalf("edge stats %+v, want one part received, one viewer", st)
	}
	if st := o.Stats(); st.Sent+st.Skipped != 3 || st.Sent == 0 || st.Answered != 1 || st.Failed != 0 {
		t.Fatalf("origin stats %+v, want 3 parts sent or skipped, one request answered", st)
	}
	// The snapshot of an edge without viewers comes from the origin too,
	// and so does the first part of a viewer that comes later: never the
	// part the edge had when its last viewer left.
	v.stop()
	mxtest.Eventually(t, 10*time.Second, "unsubscribe", func() bool { return !e.Stats().Subscribed })
	o.Publish(numbered(4))
	resp, err := http.Get(srv.URL + "/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "4" || resp.Header.Get(core.TimestampHeader) == "" {
		t.Fatalf("snapshot: %s %q %v, want 200 \"4\" with X-Timestamp", resp.Status, body, resp.Header)
	}
	mxtest.Eventually(t, 10*time.Second, "unsubscribe", func() bool { return !e.Stats().Subscribed })
	o.Publish(numbered(5))
	v = watch(t, srv.URL+"/stream")
	if got := number(t, v.next(t, 10*time.Second)); got != 5 {
		t.Fatalf("first part %d, want the latest, 5", got)
	}
}

// Without an origin, an edge's snapshot is 503 after SnapshotWait, and a
// viewer waits for the first part.
func TestNoOrigin(t *testing.T) {
	s := runServer(t, 0)
	_, srv := newEdge(t, connect(t, s.ClientURL()), &natsmx.EdgeOptions{SnapshotWait: 100 * time.Millisecond})
	resp, err := http.Get(srv.URL + "/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("snapshot: %s, want 503", resp.Status)
	}
	v := watch(t, srv.URL+"/stream")
	mxtest.Eventually(t, 10*time.Second, "edge subscription", func() bool { return subs(t, s, subject) == 1 })
	o := newOrigin(t, connect(t, s.ClientURL()))
	o.Publish(numbered(1))
	if got := number(t, v.next(t, 10*time.Second)); got != 1 {
		t.Fatalf("got part %d, want 1", got)
	}
}

// An edge holds a subscription to the subject only while it has viewers.
func TestSubscriptionFollowsViewers(t *testing.T) {
	s := runServer(t, 0)
	o := newOrigin(t, connect(t, s.ClientURL()))
	o.Publish(numbered(1))
	e, srv := newEdge(t, connect(t, s.ClientURL()), nil)
	if n := subs(t, s, subject); n != 0 {
		t.Fatalf("%d subscriptions before any viewer", n)
	}
	v1, v2 := watch(t, srv.URL+"/stream"), watch(t, srv.URL+"/stream")
	v1.next(t, 10*time.Second)
	v2.next(t, 10*time.Second)
	if n := subs(t, s, subject); n != 1 {
		t.Fatalf("%d subscriptions with 2 viewers, want 1", n)
	}
	v1.stop()
	mxtest.Eventually(t, 10*time.Second, "one viewer left", func() bool { return e.Stats().Viewers == 1 })
	if n := subs(t, s, subject); n != 1 {
		t.Fatalf("%d subscriptions with 1 viewer, want 1", n)
	}
	v2.stop()
	mxtest.Eventually(t, 10*time.Second, "no subscription after the last viewer", func() bool { return subs(t, s, subject) == 0 })
	if st := e.Stats(); st.Subscribed || st.Viewers != 0 {
		t.Fatalf("stats %+v after the last viewer left", st)
	}
	// And again.
	v3 := watch(t, srv.URL+"/stream")
	if got := number(t, v3.next(t, 10*time.Second)); got != 1 {
		t.Fatalf("got part %d, want 1", got)
	}
	mxtest.Eventually(t, 10*time.Second, "subscription", func() bool { return subs(t, s, subject) == 1 })
}

// A part that does not fit in a NATS message is refused at the origin, and
// published nowhere.
func TestTooLarge(t *testing.T) {
	s := runServer(t, 64<<10)
	b := &core.Broadcaster{Timestamps: true}
	o := newOriginWith(t, connect(t, s.ClientURL()), b)
	if err := o.Publish(core.JPEG(make([]byte, 64<<10))); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("Publish of 64 KiB: %v, want nats.ErrMaxPayload", err)
	}
	if st := b.Stats(); st.Published != 0 {
		t.Fatalf("refused part published locally: %+v", st)
	}
	// The largest part that fits is sent whole.
	_, srv := newEdge(t, connect(t, s.ClientURL()), nil)
	v := watch(t, srv.URL+"/stream")
	mxtest.Eventually(t, 10*time.Second, "edge subscription", func() bool { return subs(t, s, subject) == 1 })
	body := bytes.Repeat([]byte{'x'}, 64<<10-200)
	if err := o.Publish(core.JPEG(body)); err != nil {
		t.Fatalf("Publish of %d bytes: %v", len(body), err)
	}
	if p := v.next(t, 10*time.Second); !bytes.Equal(p.Body, body) {
		t.Fatalf("got %d bytes, want %d", len(p.Body), len(body))
	}
	if st := o.Stats(); st.Failed != 0 {
		t.Fatalf("origin stats %+v", st)
	}
}

// Shutting an edge down ends its viewers' streams cleanly; shutting the
// origin down does not end the edges' streams.
func TestShutdown(t *testing.T) {
	s := runServer(t, 0)
	nc := connect(t, s.ClientURL())
	o, err := natsmx.NewOrigin(nc, subject, &core.Broadcaster{Timestamps: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, srv := newEdge(t, connect(t, s.ClientURL()), &natsmx.EdgeOptions{ErrorLog: log.New(io.Discard, "", 0)})
	v := watch(t, srv.URL+"/stream")
	lockstep(t, o, []*viewer{v}, 1, 3)
	if err := o.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(numbered(9)); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("Publish after Shutdown: %v", err)
	}
	select {
	case err := <-v.end:
		t.Fatalf("edge stream ended with the origin: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	mxtest.Eventually(t, 10*time.Second, "origin stops answering", func() bool { return subs(t, s, natsmx.LatestSubject(subject)) == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-v.end:
		if err != nil {
			t.Fatalf("stream end: %v, want a clean end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end")
	}
	mxtest.Eventually(t, 10*time.Second, "no subscription after edge shutdown", func() bool { return subs(t, s, subject) == 0 })
}

// Messages from a publisher that is not an Origin are served as they are.
func TestPlainMessages(t *testing.T) {
	s := runServer(t, 0)
	nc := connect(t, s.ClientURL())
	e, srv := newEdge(t, connect(t, s.ClientURL()), &natsmx.EdgeOptions{ErrorLog: log.New(io.Discard, "", 0)})
	v := watch(t, srv.URL+"/stream")
	mxtest.Eventually(t, 10*time.Second, "edge subscription", func() bool { return subs(t, s, subject) == 1 })
	m := &nats.Msg{Subject: subject, Header: nats.Header{"content-type": {"image/jpeg"}}, Data: []byte("jpeg")}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	p := v.next(t, 10*time.Second)
	if p.ContentType() != "image/jpeg" || string(p.Body) != "jpeg" {
		t.Fatalf("got %v %q", p.Header, p.Body)
	}
	bad := &nats.Msg{Subject: subject, Header: nats.Header{"Mx-Seq": {"x"}}, Data: []byte("bad")}
	nc.PublishMsg(bad)
	mxtest.Eventually(t, 10*time.Second, "invalid message counted", func() bool { return e.Stats().Invalid == 1 })
	nc.Publish(subject, []byte("raw"))
	if p := v.next(t, 10*time.Second); p.ContentType() != "application/octet-stream" || string(p.Body) != "raw" {
		t.Fatalf("got %v %q", p.Header, p.Body)
	}
}

func TestBadArguments(t *testing.T) {
	s := runServer(t, 0)
	nc := connect(t, s.ClientURL())
	for _, subj := range []string{"", "a.*", "a.>", "a..b", "a b", ".a"} {
		if _, err := natsmx.NewEdge(nc, subj, nil); err == nil || !strings.HasPrefix(err.Error(), "natsmx: ") {
			t.Errorf("NewEdge(%q): %v", subj, err)
		}
		if _, err := natsmx.NewOrigin(nc, subj, &core.Broadcaster{}, nil); err == nil {
			t.Errorf("NewOrigin(%q): no error", subj)
		}
	}
	if _, err := natsmx.NewOrigin(nc, subject, nil, nil); err == nil {
		t.Error("NewOrigin without a Broadcaster: no error")
	}
	// On a closed connection: no Origin, and an Edge whose viewers get an
	// empty stream.
	e, err := natsmx.NewEdge(nc, subject, &natsmx.EdgeOptions{ErrorLog: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, err := natsmx.NewOrigin(nc, subject, &core.Broadcaster{}, nil); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("NewOrigin on a closed connection: %v", err)
	}
	for p := range e.Subscribe(context.Background()) {
		t.Errorf("a viewer of an Edge on a closed connection got %v", p)
	}
	if st := e.Stats(); st.Subscribed || st.Viewers != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A part marked Last ends the streams on the origin and on every edge, and
// an edge that comes later is ended too.
func TestLastPart(t *testing.T) {
	s := runServer(t, 0)
	b := &core.Broadcaster{Timestamps: true}
	o := newOriginWith(t, connect(t, s.ClientURL()), b)
	e1, srv1 := newEdge(t, connect(t, s.ClientURL()), nil)
	v := watch(t, srv1.URL+"/stream")
	lockstep(t, o, []*viewer{v}, 1, 3)
	last := numbered(3)
	last.Last = true
	if err := o.Publish(last); err != nil {
		t.Fatal(err)
	}
	if p := v.next(t, 10*time.Second); number(t, p) != 3 || p.Header.Get(natsmx.LastHeader) != "" {
		t.Fatalf("got %v %q", p.Header, p.Body)
	}
	select {
	case err := <-v.end:
		if err != nil {
			t.Fatalf("stream end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("edge stream did not end after the last part")
	}
	if err := o.Publish(numbered(4)); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("Publish after the last part: %v", err)
	}
	mxtest.Eventually(t, 10*time.Second, "edge unsubscribed", func() bool { return !e1.Stats().Subscribed })

	// An edge that comes later ends too: like a Broadcaster after its last
	// part, it serves an empty stream.
	e2, srv2 := newEdge(t, connect(t, s.ClientURL()), nil)
	v2 := watch(t, srv2.URL+"/stream")
	select {
	case p := <-v2.parts:
		t.Fatalf("later edge served %v %q", p.Header, p.Body)
	case err := <-v2.end:
		if err != nil {
			t.Fatalf("later edge stream end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("later edge stream did not end")
	}
	if st := e2.Stats(); st.Subscribed || st.Received != 1 {
		t.Fatalf("later edge: %+v", st)
	}
}

// A part the origin's Broadcaster drops as a repeat (DropRepeats) is not
// sent either.
func TestDropRepeats(t *testing.T) {
	s := runServer(t, 0)
	o := newOriginWith(t, connect(t, s.ClientURL()), &core.Broadcaster{Timestamps: true, DropRepeats: true})
	_, srv := newEdge(t, connect(t, s.ClientURL()), nil)
	v := watch(t, srv.URL+"/stream")
	lockstep(t, o, []*viewer{v}, 1, 3)
	before := o.Stats()
	o.Publish(numbered(2)) // a repeat of the last part
	o.Publish(numbered(3))
	if got := number(t, v.next(t, 10*time.Second)); got != 3 {
		t.Fatalf("got part %d, want 3", got)
	}
	if st := o.Stats(); st.Sent+st.Skipped != before.Sent+before.Skipped+1 {
		t.Fatalf("origin stats %+v then %+v, want one more part", before, st)
	}
}
