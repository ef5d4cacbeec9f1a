package core_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestBroadcastWireBytes reads the raw bytes a viewer of a Broadcaster gets.
func TestBroadcastWireBytes(t *testing.T) {
	b := &core.Broadcaster{}
	srv := newServer(t, core.Handler(b.Subscribe, nil), h1)
	t.Cleanup(func() { shutdown(t, b) })
	body1 := []byte("\xff\xd8 first frame \r\n--not-a-boundary\r\n \xff\xd9")
	if err := b.Publish(core.JPEG(body1)); err != nil {
		t.Fatal(err)
	}

	r := rawGet(t, srv, "/")
	r2 := rawGet(t, srv, "/?mx=advance")
	B := r.boundary
	if B == "" || len(B) > 70 || r.header.Get("Content-Type") != core.MediaType+"; boundary="+B {
		t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
	}
	if r2.boundary != B {
		t.Fatalf("boundaries %q and %q for two viewers of one Broadcaster", B, r2.boundary)
	}
	if te := r.header.Get("Transfer-Encoding"); te == "chunked" {
		t.Fatalf("Transfer-Encoding %q", te)
	}
	r.expect(t, "--"+B+"\r\n"+lengthFrame("image/jpeg", body1, B))
	adv := "Content-Type: image/jpeg\r\n\r\n"
	r2.expect(t, "--"+B+"\r\n"+adv+string(body1)+"\r\n--"+B+"\r\n"+adv)

	body2 := bytes.Repeat([]byte("0123456789abcdef"), 5000) // larger than one write buffer
	if err := b.Publish(core.JPEG(body2)); err != nil {
		t.Fatal(err)
	}
	r.expect(t, lengthFrame("image/jpeg", body2, B))
	r2.expect(t, string(body2)+"\r\n--"+B+"\r\n"+adv)

	// Other header fields come after Content-Length, sorted.
	p3 := core.Part{
		Header: textproto.MIMEHeader{"X-Frame": {"3"}, "Content-Type": {"image/jpeg"}, "A-First": {"a"}, "Content-Length": {"999"}},
		Body:   []byte("third"),
	}
	if err := b.Publish(p3); err != nil {
		t.Fatal(err)
	}
	r.expect(t, "Content-Type: image/jpeg\r\nContent-Length: 5\r\nA-First: a\r\nX-Frame: 3\r\n\r\nthird\r\n--"+B+"\r\n")
	r2.expect(t, "third\r\n--"+B+"\r\n"+adv)

	// Shutdown ends both streams: the last part repeated (marked in the
	// length mode; its header block is already out in the advance mode),
	// then the close delimiter.
	shutdown(t, b)
	if end, want := string(r.rest(t)), "Content-Type: image/jpeg\r\nContent-Length: 5\r\nA-First: a\r\nX-Frame: 3\r\n"+
		core.FinalHeader+": repeat\r\n\r\nthird\r\n--"+B+"--\r\n"; end != want {
		t.Errorf("end of stream\n got %q\nwant %q", end, want)
	}
	if end, want := string(r2.rest(t)), "third\r\n--"+B+"--\r\n"; end != want {
		t.Errorf("end of advance stream\n got %q\nwant %q", end, want)
	}
	// After Shutdown, a new viewer gets an empty, clean stream.
	r3 := rawGet(t, srv, "/")
	if end := string(r3.rest(t)); end != "--"+r3.boundary+"--\r\n" {
		t.Errorf("stream after Shutdown %q, want only the close delimiter", end)
	}
}

// TestBroadcastPrebuiltFrame checks that Serve writes a Broadcaster's part as
// the bytes framed once at Publish: one Write per part, the same memory for
// every viewer.
func TestBroadcastPrebuiltFrame(t *testing.T) {
	b := &core.Broadcaster{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := []*flushRecorder{newFlushRecorder(), newFlushRecorder()}
	var wg sync.WaitGroup
	for _, rec := range recs {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		wg.Go(func() {
			if err := core.Serve(rec, req, b.Subscribe, &core.Options{Mode: core.ModeLength}); err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	defer wg.Wait()
	waitViewers(t, b, 2)
	for seq := 1; seq <= 3; seq++ {
		p := seqPart(seq, 1000*seq*seq*seq) // 1 KB, 8 KB, 27 KB
		if err := b.Publish(p); err != nil {
			t.Fatal(err)
		}
		var ptrs []uintptr
		for i, rec := range recs {
			batch := rec.batch(t)
			_, params, _ := mime.ParseMediaType(rec.header.Get("Content-Type"))
			B := params["boundary"]
			if seq == 1 {
				if len(batch) != 2 || batch[0].data != "--"+B+"\r\n" {
					t.Fatalf("viewer %d: first flush has %d writes, want the opening delimiter then the part", i, len(batch))
				}
				batch = batch[1:]
			}
			if len(batch) != 1 {
				t.Fatalf("viewer %d, part %d: %d writes, want 1", i, seq, len(batch))
			}
			if want := lengthFrame("image/jpeg", p.Body, B); batch[0].data != want {
				t.Fatalf("viewer %d, part %d: wrote %q, want %q", i, seq, abbrev([]byte(batch[0].data)), abbrev([]byte(want)))
			}
			ptrs = append(ptrs, batch[0].ptr)
		}
		if ptrs[0] != ptrs[1] {
			t.Errorf("part %d: the two viewers wrote different copies of the frame", seq)
		}
	}
	cancel()
	wg.Wait()
	if s := b.Stats(); s.Viewers != 0 {
		t.Fatalf("Viewers = %d after the requests ended", s.Viewers)
	}
}

// TestBroadcastStalledViewer: a viewer that never reads costs Publish
// nothing, holds at most one part, and is dropped at the write deadline.
func TestBroadcastStalledViewer(t *testing.T) {
	const parts, size = 1000, 100 << 10
	b := &core.Broadcaster{}
	srv := newServer(t, core.Handler(b.Subscribe, &core.Options{WriteTimeout: 300 * time.Millisecond}), h1)
	stuckSrv := newServer(t, core.Handler(b.Subscribe, &core.Options{WriteTimeout: -1}), h1) // no deadline
	// The reading viewer has the default deadline: on a busy machine it may
	// not be scheduled for longer than 300 ms.
	readSrv := newServer(t, core.Handler(b.Subscribe, nil), h1)
	t.Cleanup(func() { shutdown(t, b) })

	stalled := dial(t, srv, "/") // sends a GET, never reads
	stuck := dial(t, stuckSrv, "/")
	waitViewers(t, b, 2)

	// A viewer that reads as fast as it can, keeping only the last part.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readSrv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var goodLast atomic.Int64
	goodDone := make(chan error, 1)
	go func() {
		for p, err := range core.ReadResponse(resp, nil) {
			if err != nil {
				goodDone <- err
				return
			}
			seq := seqOf(t, p)
			if int64(seq) <= goodLast.Load() {
				t.Errorf("reading viewer: part %d after %d", seq, goodLast.Load())
			}
			goodLast.Store(int64(seq))
		}
		goodDone <- nil
	}()
	waitViewers(t, b, 3)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	start := time.Now()
	var slowest time.Duration
	for seq := 1; seq <= parts; seq++ {
		p := seqPart(seq, size)
		t0 := time.Now()
		if err := b.Publish(p); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	elapsed := time.Since(start)
	t.Logf("published %d parts of %d KB in %v, slowest Publish %v", parts, size>>10, elapsed, slowest)
	// The stuck viewer has no write deadline: had Publish waited for it, the
	// loop would never have ended.
	if slowest > 2*time.Second || elapsed > 30*time.Second {
		t.Errorf("Publish blocked: %v in all, slowest %v", elapsed, slowest)
	}

	// The viewer that reads gets the newest part.
	eventually(t, "the reading viewer gets the last part", func() bool {
		select {
		case err := <-goodDone:
			t.Fatalf("the reading viewer's stream ended: %v", err)
		default:
		}
		return goodLast.Load() == parts
	})

	// The stalled viewer is dropped after its write deadline; the stuck one
	// (no deadline) stays as long as its connection does.
	waitViewers(t, b, 2)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("HeapInuse %d KB before, %d KB after (%+d KB) for %d MB published", before.HeapInuse>>10, after.HeapInuse>>10, growth>>10, parts*size>>20)
	if growth > 20<<20 {
		t.Errorf("HeapInuse grew by %d MB after publishing %d MB with stalled viewers", growth>>20, parts*size>>20)
	}

	// Closing the stuck client unblocks its write and its viewer leaves.
	stuck.conn.Close()
	waitViewers(t, b, 1)
	// The stalled client's connection was closed by the server.
	stalled.conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.Copy(io.Discard, stalled.conn); err != nil && !isReset(err) {
		t.Errorf("stalled connection: %v, want it closed by the server", err)
	}
	cancel()
	if err := <-goodDone; err == nil {
		t.Error("the reading viewer's stream ended cleanly after it left")
	}
	waitViewers(t, b, 0)

	s := b.Stats()
	if s.Published != parts || s.Skipped == 0 {
		t.Errorf("Stats = %+v, want %d published and some skipped", s, parts)
	}
}

// TestBroadcastManyViewers runs 50 HTTP viewers and 10 direct subscribers
// that join and leave at random while a producer publishes as fast as it can.
func TestBroadcastManyViewers(t *testing.T) {
	const httpViewers, directViewers = 50, 10
	b := &core.Broadcaster{}
	srv := newServer(t, core.Handler(b.Subscribe, nil), h1)

	var published atomic.Int64
	var received atomic.Uint64
	stopProducer := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for seq := 1; ; seq++ {
			select {
			case <-stopProducer:
				return
			default:
			}
			if err := b.Publish(seqPart(seq, 64+seq%2000)); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
			published.Store(int64(seq))
			if seq%64 == 0 {
				runtime.Gosched()
			}
		}
	}()

	var wg sync.WaitGroup
	var stayed, streaming atomic.Int64 // stayers at the end, stayers that got a part
	lastSeen := make([]int, httpViewers)
	for i := range httpViewers {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		stay := i%4 == 0
		leaveAfter := 1 + rng.IntN(60)
		delay := time.Duration(rng.IntN(100)) * time.Millisecond
		wg.Go(func() {
			time.Sleep(delay)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("viewer %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			last, n := 0, 0
			for p, err := range core.ReadResponse(resp, nil) {
				if err != nil {
					t.Errorf("viewer %d: %v after %d parts", i, err, n)
					return
				}
				seq := seqOf(t, p)
				if seq <= last {
					t.Errorf("viewer %d: part %d after %d", i, seq, last)
				}
				last = seq
				n++
				received.Add(1)
				if stay && n == 1 {
					streaming.Add(1)
				}
				if !stay && n == leaveAfter {
					break
				}
			}
			lastSeen[i] = last
			if stay {
				stayed.Add(1)
			}
		})
	}
	for i := range directViewers {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			last := 0
			n := 0
			for p := range b.Subscribe(ctx) {
				seq := seqOf(t, p)
				if seq <= last {
					t.Errorf("direct viewer %d: part %d after %d", i, seq, last)
				}
				last = seq
				received.Add(1)
				if n++; n == 20*(i+1) {
					break // leave by stopping the iteration
				}
			}
		})
	}

	time.Sleep(500 * time.Millisecond)
	eventually(t, "100 parts published", func() bool { return published.Load() >= 100 })
	// Every viewer that stays to the end is streaming before it ends.
	eventually(t, "the staying viewers stream", func() bool { return streaming.Load() == (httpViewers+3)/4 })
	close(stopProducer)
	<-producerDone
	final := int(published.Load())
	shutdown(t, b)
	wg.Wait()

	s := b.Stats()
	t.Logf("%d parts published; %+v; %d received by clients", final, s, received.Load())
	if s.Viewers != 0 {
		t.Errorf("Viewers = %d after Shutdown", s.Viewers)
	}
	if s.Published != uint64(final) {
		t.Errorf("Published = %d, want %d", s.Published, final)
	}
	if s.Sent < received.Load() {
		t.Errorf("Sent = %d, but clients received %d parts", s.Sent, received.Load())
	}
	if s.Repeated != 0 || s.Dropped != 0 {
		t.Errorf("Repeated %d, Dropped %d, want 0", s.Repeated, s.Dropped)
	}
	// Each viewer accounts each part at most once, as sent or skipped.
	if max := uint64(final) * (httpViewers + directViewers); s.Sent+s.Skipped > max {
		t.Errorf("Sent+Skipped = %d, more than %d parts x %d viewers", s.Sent+s.Skipped, final, httpViewers+directViewers)
	}
	// The viewers that stayed ended on the last part published.
	for i := 0; i < httpViewers; i += 4 {
		if lastSeen[i] != final {
			t.Errorf("viewer %d stayed to the end but its last part is %d, want %d", i, lastSeen[i], final)
		}
	}
	if stayed.Load() != (httpViewers+3)/4 {
		t.Errorf("%d viewers stayed to a clean end, want %d", stayed.Load(), (httpViewers+3)/4)
	}
}
