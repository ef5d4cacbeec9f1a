package core_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"net/textproto"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestBroadcastZeroValue: a zero Broadcaster is ready to use. Snapshot and
// Stats are empty before the first Publish; then Snapshot returns the
// latest part. Shutdown works with or without parts.
func TestBroadcastZeroValue(t *testing.T) {
	var b core.Broadcaster
	if p, ok := b.Snapshot(); ok || p.Body != nil || p.Header != nil {
		t.Fatalf("Snapshot before Publish = %v, %v; want zero Part, false", p, ok)
	}
	if s := b.Stats(); s != (core.Stats{}) {
		t.Fatalf("Stats before Publish = %+v", s)
	}
	body := []byte("frame 1")
	if err := b.Publish(core.JPEG(body)); err != nil {
		t.Fatal(err)
	}
	p, ok := b.Snapshot()
	if !ok || string(p.Body) != "frame 1" || p.ContentType() != core.TypeJPEG {
		t.Fatalf("Snapshot = %q %q %v", p.ContentType(), p.Body, ok)
	}
	if err := b.Publish(core.Text("frame 2")); err != nil {
		t.Fatal(err)
	}
	p, ok = b.Snapshot()
	if !ok || string(p.Body) != "frame 2" || p.ContentType() != core.TypeText {
		t.Fatalf("Snapshot = %q %q %v", p.ContentType(), p.Body, ok)
	}
	if s := b.Stats(); s.Published != 2 || s.Viewers != 0 || s.Sent != 0 || s.Dropped != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of an idle Broadcaster: %v", err)
	}
	// Shutdown on a zero value that never published works too.
	var b2 core.Broadcaster
	if err := b2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := b2.Snapshot(); ok {
		t.Fatal("Snapshot true after Shutdown of an empty Broadcaster")
	}
}

// TestBroadcastInvalidHeader: Publish refuses a part with an unsafe header
// (ErrInvalidHeader), also after Shutdown. The last valid part stays the
// latest.
func TestBroadcastInvalidHeader(t *testing.T) {
	var b core.Broadcaster
	bad := []core.Part{
		{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg\r\nX-Injected: 1"}}, Body: []byte("x")},
		{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "X-Bad": {"a\nb"}}, Body: []byte("x")},
		{Header: textproto.MIMEHeader{"Bad Name": {"v"}}, Body: []byte("x")},
		{Header: textproto.MIMEHeader{"": {"v"}}, Body: []byte("x")},
		{Header: textproto.MIMEHeader{"X-Nul": {"a\x00b"}}, Body: []byte("x")},
	}
	for _, p := range bad {
		if err := b.Publish(p); !errors.Is(err, core.ErrInvalidHeader) {
			t.Errorf("Publish(%v) = %v, want an error wrapping ErrInvalidHeader", p.Header, err)
		}
	}
	if _, ok := b.Snapshot(); ok {
		t.Fatal("an invalid part was published")
	}
	if err := b.Publish(core.JPEG([]byte("good"))); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(bad[0]); !errors.Is(err, core.ErrInvalidHeader) {
		t.Fatalf("Publish = %v", err)
	}
	if p, _ := b.Snapshot(); string(p.Body) != "good" {
		t.Fatalf("latest part is %q after an invalid Publish, want the last valid one", p.Body)
	}
	if s := b.Stats(); s.Published != 1 {
		t.Fatalf("Published = %d, want 1", s.Published)
	}
	// Validation comes before the closed check, and a closed Broadcaster
	// still refuses bad headers with ErrInvalidHeader.
	shutdown(t, &b)
	if err := b.Publish(bad[0]); !errors.Is(err, core.ErrInvalidHeader) {
		t.Fatalf("Publish after Shutdown = %v", err)
	}
}

// TestBroadcastSubscribeHTTP serves a Broadcaster to real HTTP clients.
func TestBroadcastSubscribeHTTP(t *testing.T) {
	b := &core.Broadcaster{}
	srv := newServer(t, core.Handler(b.Subscribe, nil), h1)
	t.Cleanup(func() { shutdown(t, b) })

	// A new viewer gets the latest part at once, not the older ones.
	for seq := 1; seq <= 3; seq++ {
		if err := b.Publish(seqPart(seq, 1000+seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{"length", "advance"} {
		t.Run(mode, func(t *testing.T) {
			v := watch(t, srv.URL+"/?mx="+mode, "")
			p := v.next(t)
			if seq := seqOf(t, p); seq != 3 {
				t.Fatalf("first part is %d, want the latest (3)", seq)
			}
			if mode == "length" && p.Header.Get("Content-Length") != "1003" {
				t.Errorf("Content-Length %q, want 1003", p.Header.Get("Content-Length"))
			}
		})
	}
	waitViewers(t, b, 0)

	// Later parts arrive in order, byte-identical, to every viewer.
	v1 := watch(t, srv.URL, "")
	v2 := watch(t, srv.URL, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	for _, v := range []*viewer{v1, v2} {
		if seq := seqOf(t, v.next(t)); seq != 3 {
			t.Fatalf("first part is %d, want 3", seq)
		}
	}
	waitViewers(t, b, 2)
	sizes := []int{8, 100, 4096, 64 << 10, 300 << 10, 17}
	for i, size := range sizes {
		seq := 4 + i
		if err := b.Publish(seqPart(seq, size)); err != nil {
			t.Fatal(err)
		}
		for _, v := range []*viewer{v1, v2} {
			p := v.next(t)
			if got := seqOf(t, p); got != seq || len(p.Body) != size {
				t.Fatalf("got part %d of %d bytes, want %d of %d", got, len(p.Body), seq, size)
			}
		}
	}
	if v1.boundary == "" || v1.boundary != v2.boundary {
		t.Fatalf("boundaries of two viewers of one Broadcaster: %q and %q, want the same", v1.boundary, v2.boundary)
	}
	s := b.Stats()
	if s.Viewers != 2 || s.Published != 3+uint64(len(sizes)) || s.Skipped != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	// 2 test viewers above each got 1 part; v1 and v2 got 1+len(sizes).
	if want := uint64(2 + 2*(1+len(sizes))); s.Sent != want {
		t.Fatalf("Sent = %d, want %d", s.Sent, want)
	}

	// Every Broadcaster frames for the process's default boundary, which
	// Serve uses too.
	b2 := &core.Broadcaster{}
	srv2 := newServer(t, core.Handler(b2.Subscribe, nil), h1)
	t.Cleanup(func() { shutdown(t, b2) })
	b2.Publish(seqPart(1, 10))
	v3 := watch(t, srv2.URL, "")
	seqOf(t, v3.next(t))
	if v3.boundary != v1.boundary {
		t.Fatalf("two Broadcasters' viewers: boundaries %q and %q, want the process's default", v1.boundary, v3.boundary)
	}
}

// TestBroadcastShutdown ends open HTTP streams.
func TestBroadcastShutdown(t *testing.T) {
	b := &core.Broadcaster{}
	srv := newServer(t, core.Handler(b.Subscribe, nil), h1)
	b.Publish(seqPart(1, 1000))
	var vs []*viewer
	for _, ua := range []string{"", "Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0"} {
		v := watch(t, srv.URL, ua)
		v.upTo(t, 1)
		vs = append(vs, v)
	}
	raw := rawGet(t, srv, "/")
	waitViewers(t, b, 3)
	b.Publish(seqPart(2, 2000))
	for _, v := range vs {
		v.upTo(t, 2)
	}
	b.Publish(seqPart(3, 3000)) // the viewers may not have it yet

	shutdown(t, b)
	if n := b.Stats().Viewers; n != 0 {
		t.Errorf("Viewers = %d once Shutdown returned", n)
	}
	for i, v := range vs {
		parts, err := v.rest(t)
		if err != nil {
			t.Errorf("viewer %d: stream ended with %v, want a clean end", i, err)
		}
		// A viewer that did not have part 3 at Shutdown gets it marked
		// Last: exactly once. One that had it gets the final repeat, which
		// Read drops in length mode; in advance mode (viewer 1) the repeat
		// cannot carry Mx-Final (its header block went out in advance), so
		// Read sees the last part twice.
		if len(parts) != 1 && (i == 0 || len(parts) != 2) {
			t.Errorf("viewer %d: got %d more parts", i, len(parts))
		}
		for _, p := range parts {
			if seq := seqOf(t, p); seq != 3 {
				t.Errorf("viewer %d: part %d after Shutdown, want the last part (3)", i, seq)
			}
		}
	}
	end := raw.rest(t)
	if !bytes.HasSuffix(end, []byte("\r\n--"+raw.boundary+"--\r\n")) {
		t.Errorf("raw stream ends with %q, want the close delimiter", abbrev(end))
	}
	if !bytes.Contains(end, seqBody(3, 3000)) {
		t.Error("raw stream did not get the last part")
	}

	if err := b.Publish(seqPart(4, 10)); !errors.Is(err, core.ErrShutdown) {
		t.Errorf("Publish after Shutdown = %v, want ErrShutdown", err)
	}
	if p, ok := b.Snapshot(); !ok || seqOf(t, p) != 3 {
		t.Errorf("Snapshot after Shutdown: want the last part")
	}
	// A viewer that comes after Shutdown gets an empty clean stream.
	late := watch(t, srv.URL, "")
	if parts, err := late.rest(t); len(parts) != 0 || err != nil {
		t.Errorf("viewer after Shutdown: %d parts, error %v; want none, nil", len(parts), err)
	}
	// And a direct subscription ends at once.
	for range b.Subscribe(context.Background()) {
		t.Error("Subscribe after Shutdown yielded a part")
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if s := b.Stats(); s.Viewers != 0 || s.Published != 3 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestBroadcastShutdownDeliversLatest: a viewer waiting for a part when
// Publish and Shutdown come together still ends on that last part.
func TestBroadcastShutdownDeliversLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for round := range 40 {
			b := &core.Broadcaster{}
			b.Publish(seqPart(1, 10))
			sub := subscribe(t, b, 0)
			synctest.Wait() // it has part 1 and waits for the next
			b.Publish(seqPart(2, 10))
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			rs := sub.end()
			if len(rs) != 2 || rs[1].seq != 2 {
				t.Fatalf("round %d: viewer got %d parts, the last %d; want 1 then 2", round, len(rs), rs[len(rs)-1].seq)
			}
		}
		// Likewise for a viewer held back by MaxFPS.
		for round := range 20 {
			b := &core.Broadcaster{MaxFPS: 1}
			b.Publish(seqPart(1, 10))
			sub := subscribe(t, b, 0)
			synctest.Wait()
			b.Publish(seqPart(2, 10))
			synctest.Wait() // waits for its next slot
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			rs := sub.end()
			if len(rs) != 2 || rs[1].seq != 2 {
				t.Fatalf("MaxFPS round %d: viewer got %d parts, the last %d; want 1 then 2", round, len(rs), rs[len(rs)-1].seq)
			}
		}
	})
}

// TestBroadcastShutdownStuck: Shutdown gives up when ctx ends while a
// viewer cannot leave.
func TestBroadcastShutdownStuck(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &core.Broadcaster{}
			b.Publish(seqPart(1, 10))
			next, stop := iter.Pull(b.Subscribe(context.Background()))
			if p, ok := next(); !ok || seqOf(t, p) != 1 {
				t.Fatal("no first part")
			}
			// The consumer now holds the part and does not come back.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			if err := b.Shutdown(ctx); err != context.DeadlineExceeded {
				t.Fatalf("Shutdown = %v, want %v", err, context.DeadlineExceeded)
			}
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("Shutdown returned after %v, want 3s", d)
			}
			expired, cancel2 := context.WithCancel(context.Background())
			cancel2()
			if err := b.Shutdown(expired); err != context.Canceled {
				t.Fatalf("Shutdown(canceled ctx) = %v", err)
			}
			if n := b.Stats().Viewers; n != 1 {
				t.Fatalf("Viewers = %d", n)
			}
			// Once the consumer comes back, its sequence ends.
			if _, ok := next(); ok {
				t.Error("a part after Shutdown")
			}
			stop()
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown after the viewer left = %v", err)
			}
			if n := b.Stats().Viewers; n != 0 {
				t.Fatalf("Viewers = %d", n)
			}
		})
	})
	t.Run("http", func(t *testing.T) {
		b := &core.Broadcaster{}
		srv := newServer(t, core.Handler(b.Subscribe, &core.Options{WriteTimeout: -1}), h1)
		stuck := dial(t, srv, "/") // never reads
		waitViewers(t, b, 1)
		// Publish until the viewer is blocked writing: Sent stops moving.
		seq, sent, since := 0, uint64(0), time.Now()
		for deadline := time.Now().Add(waitLimit); ; {
			seq++
			b.Publish(seqPart(seq, 256<<10))
			if s := b.Stats().Sent; s != sent {
				sent, since = s, time.Now()
			} else if time.Since(since) > 500*time.Millisecond {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the viewer never blocked")
			}
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || err != ctx.Err() {
			t.Fatalf("Shutdown = %v, want ctx.Err() = %v", err, ctx.Err())
		}
		stuck.conn.Close() // the blocked write fails, the viewer leaves
		shutdown(t, b)
		if n := b.Stats().Viewers; n != 0 {
			t.Fatalf("Viewers = %d", n)
		}
	})
}
