package core_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/mxreplace/mx/core"
)

// Helpers of this file are prefixed with bc.

// bcWait bounds every wait for something that should happen "at once"; the
// box running the tests is small and shared, so it is generous.
const bcWait = 15 * time.Second

var bcPattern = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}()

// bcBody returns a body of size bytes (at least 8) that starts with seq and
// is otherwise a fixed pattern, so that a received body tells its sequence
// number and can be checked byte for byte.
func bcBody(seq, size int) []byte {
	b := make([]byte, size)
	copy(b, bcPattern)
	binary.BigEndian.PutUint64(b, uint64(seq))
	return b
}

func bcPart(seq, size int) core.Part { return core.JPEG(bcBody(seq, size)) }

// bcSeq returns the sequence number of a part made by bcPart, checking that
// its body and Content-Type are intact.
func bcSeq(t testing.TB, p core.Part) int {
	t.Helper()
	if len(p.Body) < 8 {
		t.Fatalf("part body has %d bytes: %q", len(p.Body), p.Body)
	}
	seq := int(binary.BigEndian.Uint64(p.Body))
	if !bytes.Equal(p.Body, bcBody(seq, len(p.Body))) {
		t.Fatalf("part %d: body of %d bytes differs from what was published", seq, len(p.Body))
	}
	if ct := p.Header.Get("Content-Type"); ct != core.TypeJPEG {
		t.Fatalf("part %d: Content-Type %q, want %q", seq, ct, core.TypeJPEG)
	}
	return seq
}

func bcEventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bcWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func bcViewers(t testing.TB, b *core.Broadcaster, n int) {
	t.Helper()
	bcEventually(t, fmt.Sprintf("Stats().Viewers == %d", n), func() bool { return b.Stats().Viewers == n })
}

// bcServer serves h; at cleanup it cuts the connections still open before
// closing, so that no handler outlives the test.
func bcServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// bcViewer reads a stream with core.ReadResponse in a goroutine.
type bcViewer struct {
	resp     *http.Response
	boundary string
	parts    chan core.Part
	err      error // valid once parts is closed
	cancel   context.CancelFunc
}

func bcWatch(t testing.TB, url, userAgent string) *bcViewer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	v := &bcViewer{resp: resp, parts: make(chan core.Part), cancel: cancel}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Errorf("response Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	v.boundary = params["boundary"]
	go func() {
		defer close(v.parts)
		for p, err := range core.ReadResponse(resp, nil) {
			if err != nil {
				v.err = err
				return
			}
			select {
			case v.parts <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(v.close)
	return v
}

// next returns the next part, failing if the stream ends or nothing comes.
func (v *bcViewer) next(t testing.TB) core.Part {
	t.Helper()
	select {
	case p, ok := <-v.parts:
		if !ok {
			t.Fatalf("stream ended early (err %v)", v.err)
		}
		return p
	case <-time.After(bcWait):
		t.Fatal("timed out waiting for a part")
	}
	panic("unreachable")
}

// upTo reads parts until the one with sequence number want, checking that
// sequence numbers only grow; it returns how many parts it read.
func (v *bcViewer) upTo(t testing.TB, want int) int {
	t.Helper()
	last, n := -1, 0
	for last != want {
		seq := bcSeq(t, v.next(t))
		n++
		if seq <= last || seq > want {
			t.Fatalf("got part %d after %d, waiting for %d", seq, last, want)
		}
		last = seq
	}
	return n
}

// rest reads the stream to its end and returns the parts and the error.
func (v *bcViewer) rest(t testing.TB) ([]core.Part, error) {
	t.Helper()
	var parts []core.Part
	timeout := time.After(bcWait)
	for {
		select {
		case p, ok := <-v.parts:
			if !ok {
				return parts, v.err
			}
			parts = append(parts, p)
		case <-timeout:
			t.Fatal("timed out waiting for the stream to end")
		}
	}
}

func (v *bcViewer) close() {
	v.cancel()
	v.resp.Body.Close()
	for range v.parts {
	}
}

// bcRaw is a raw HTTP/1.1 client: it sends a GET and can read the response
// body byte for byte (with its framing, if any).
type bcRaw struct {
	conn     net.Conn
	br       *bufio.Reader
	status   string
	header   textproto.MIMEHeader
	boundary string
}

// bcDial connects and sends a GET for path; it reads nothing.
func bcDial(t testing.TB, srv *httptest.Server, path string) *bcRaw {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: mx.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return &bcRaw{conn: conn}
}

// bcRawGet sends a GET and reads the status line and the header.
func bcRawGet(t testing.TB, srv *httptest.Server, path string) *bcRaw {
	t.Helper()
	r := bcDial(t, srv, path)
	r.conn.SetReadDeadline(time.Now().Add(bcWait))
	r.br = bufio.NewReader(r.conn)
	tr := textproto.NewReader(r.br)
	var err error
	if r.status, err = tr.ReadLine(); err != nil {
		t.Fatal(err)
	}
	if r.header, err = tr.ReadMIMEHeader(); err != nil {
		t.Fatal(err)
	}
	if r.status != "HTTP/1.1 200 OK" {
		t.Fatalf("status %q", r.status)
	}
	_, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	r.boundary = params["boundary"]
	return r
}

// expect reads len(want) raw body bytes and compares them with want.
func (r *bcRaw) expect(t testing.TB, want string) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(bcWait))
	got := make([]byte, len(want))
	if n, err := io.ReadFull(r.br, got); err != nil {
		t.Fatalf("read %d of %d bytes: %v; got %q", n, len(want), err, bcShort(got[:n]))
	}
	if string(got) != want {
		t.Fatalf("raw body:\n got %q\nwant %q", bcShort(got), bcShort([]byte(want)))
	}
}

// rest reads the raw body to EOF.
func (r *bcRaw) rest(t testing.TB) []byte {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(bcWait))
	b, err := io.ReadAll(r.br)
	if err != nil {
		t.Fatalf("reading to EOF: %v (got %q)", err, bcShort(b))
	}
	return b
}

func bcShort(b []byte) string {
	if len(b) > 200 {
		return string(b[:100]) + fmt.Sprintf("...(%d bytes)...", len(b)-200) + string(b[len(b)-100:])
	}
	return string(b)
}

// bcFrame is the wire form of a part with only a Content-Type, in the
// length mode: header block, body, delimiter.
func bcFrame(ct string, body []byte, boundary string) string {
	return "Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" +
		string(body) + "\r\n--" + boundary + "\r\n"
}

func bcShutdown(t testing.TB, b *core.Broadcaster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bcWait)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

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
	bcShutdown(t, &b)
	if err := b.Publish(bad[0]); !errors.Is(err, core.ErrInvalidHeader) {
		t.Fatalf("Publish after Shutdown = %v", err)
	}
}

// TestBroadcastSubscribeHTTP serves a Broadcaster to real HTTP clients.
func TestBroadcastSubscribeHTTP(t *testing.T) {
	b := &core.Broadcaster{}
	srv := bcServer(t, core.Handler(b.Subscribe, nil))
	t.Cleanup(func() { bcShutdown(t, b) })

	// A new viewer gets the latest part at once, not the older ones.
	for seq := 1; seq <= 3; seq++ {
		if err := b.Publish(bcPart(seq, 1000+seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{"length", "advance"} {
		t.Run(mode, func(t *testing.T) {
			v := bcWatch(t, srv.URL+"/?mx="+mode, "")
			p := v.next(t)
			if seq := bcSeq(t, p); seq != 3 {
				t.Fatalf("first part is %d, want the latest (3)", seq)
			}
			if mode == "length" && p.Header.Get("Content-Length") != "1003" {
				t.Errorf("Content-Length %q, want 1003", p.Header.Get("Content-Length"))
			}
		})
	}
	bcViewers(t, b, 0)

	// Later parts arrive in order, byte-identical, to every viewer.
	v1 := bcWatch(t, srv.URL, "")
	v2 := bcWatch(t, srv.URL, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	for _, v := range []*bcViewer{v1, v2} {
		if seq := bcSeq(t, v.next(t)); seq != 3 {
			t.Fatalf("first part is %d, want 3", seq)
		}
	}
	bcViewers(t, b, 2)
	sizes := []int{8, 100, 4096, 64 << 10, 300 << 10, 17}
	for i, size := range sizes {
		seq := 4 + i
		if err := b.Publish(bcPart(seq, size)); err != nil {
			t.Fatal(err)
		}
		for _, v := range []*bcViewer{v1, v2} {
			p := v.next(t)
			if got := bcSeq(t, p); got != seq || len(p.Body) != size {
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
	srv2 := bcServer(t, core.Handler(b2.Subscribe, nil))
	t.Cleanup(func() { bcShutdown(t, b2) })
	b2.Publish(bcPart(1, 10))
	v3 := bcWatch(t, srv2.URL, "")
	bcSeq(t, v3.next(t))
	if v3.boundary != v1.boundary {
		t.Fatalf("two Broadcasters' viewers: boundaries %q and %q, want the process's default", v1.boundary, v3.boundary)
	}
}

// TestBroadcastWireBytes reads the raw bytes a viewer of a Broadcaster gets.
func TestBroadcastWireBytes(t *testing.T) {
	b := &core.Broadcaster{}
	srv := bcServer(t, core.Handler(b.Subscribe, nil))
	t.Cleanup(func() { bcShutdown(t, b) })
	body1 := []byte("\xff\xd8 first frame \r\n--not-a-boundary\r\n \xff\xd9")
	if err := b.Publish(core.JPEG(body1)); err != nil {
		t.Fatal(err)
	}

	r := bcRawGet(t, srv, "/")
	r2 := bcRawGet(t, srv, "/?mx=advance")
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
	r.expect(t, "--"+B+"\r\n"+bcFrame("image/jpeg", body1, B))
	adv := "Content-Type: image/jpeg\r\n\r\n"
	r2.expect(t, "--"+B+"\r\n"+adv+string(body1)+"\r\n--"+B+"\r\n"+adv)

	body2 := bytes.Repeat([]byte("0123456789abcdef"), 5000) // larger than one write buffer
	if err := b.Publish(core.JPEG(body2)); err != nil {
		t.Fatal(err)
	}
	r.expect(t, bcFrame("image/jpeg", body2, B))
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
	bcShutdown(t, b)
	if end, want := string(r.rest(t)), "Content-Type: image/jpeg\r\nContent-Length: 5\r\nA-First: a\r\nX-Frame: 3\r\n"+
		core.FinalHeader+": repeat\r\n\r\nthird\r\n--"+B+"--\r\n"; end != want {
		t.Errorf("end of stream\n got %q\nwant %q", end, want)
	}
	if end, want := string(r2.rest(t)), "third\r\n--"+B+"--\r\n"; end != want {
		t.Errorf("end of advance stream\n got %q\nwant %q", end, want)
	}
	// After Shutdown, a new viewer gets an empty, clean stream.
	r3 := bcRawGet(t, srv, "/")
	if end := string(r3.rest(t)); end != "--"+r3.boundary+"--\r\n" {
		t.Errorf("stream after Shutdown %q, want only the close delimiter", end)
	}
}

// bcRecorder is a ResponseWriter that keeps each Write call and reports the
// writes made between two flushes.
type bcRecorder struct {
	header  http.Header
	mu      sync.Mutex
	pending []bcWrite
	batches chan []bcWrite
}

type bcWrite struct {
	data string
	ptr  uintptr // address of the written bytes
}

func newBCRecorder() *bcRecorder {
	return &bcRecorder{header: http.Header{}, batches: make(chan []bcWrite, 100)}
}

func (r *bcRecorder) Header() http.Header { return r.header }
func (r *bcRecorder) WriteHeader(int)     {}
func (r *bcRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, bcWrite{string(p), uintptr(unsafe.Pointer(unsafe.SliceData(p)))})
	return len(p), nil
}
func (r *bcRecorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		r.batches <- r.pending
		r.pending = nil
	}
}
func (r *bcRecorder) SetWriteDeadline(time.Time) error { return nil }

func (r *bcRecorder) batch(t testing.TB) []bcWrite {
	t.Helper()
	select {
	case b := <-r.batches:
		return b
	case <-time.After(bcWait):
		t.Fatal("timed out waiting for a flush")
	}
	return nil
}

// TestBroadcastPrebuiltFrame checks that Serve writes a Broadcaster's part as
// the bytes framed once at Publish: one Write per part, the same memory for
// every viewer.
func TestBroadcastPrebuiltFrame(t *testing.T) {
	b := &core.Broadcaster{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := []*bcRecorder{newBCRecorder(), newBCRecorder()}
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
	bcViewers(t, b, 2)
	for seq := 1; seq <= 3; seq++ {
		p := bcPart(seq, 1000*seq*seq*seq) // 1 KB, 8 KB, 27 KB
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
			if want := bcFrame("image/jpeg", p.Body, B); batch[0].data != want {
				t.Fatalf("viewer %d, part %d: wrote %q, want %q", i, seq, bcShort([]byte(batch[0].data)), bcShort([]byte(want)))
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
	srv := bcServer(t, core.Handler(b.Subscribe, &core.Options{WriteTimeout: 300 * time.Millisecond}))
	stuckSrv := bcServer(t, core.Handler(b.Subscribe, &core.Options{WriteTimeout: -1})) // no deadline
	t.Cleanup(func() { bcShutdown(t, b) })

	stalled := bcDial(t, srv, "/") // sends a GET, never reads
	stuck := bcDial(t, stuckSrv, "/")
	bcViewers(t, b, 2)

	// A viewer that reads as fast as it can, keeping only the last part.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
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
			seq := bcSeq(t, p)
			if int64(seq) <= goodLast.Load() {
				t.Errorf("reading viewer: part %d after %d", seq, goodLast.Load())
			}
			goodLast.Store(int64(seq))
		}
		goodDone <- nil
	}()
	bcViewers(t, b, 3)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	start := time.Now()
	var slowest time.Duration
	for seq := 1; seq <= parts; seq++ {
		p := bcPart(seq, size)
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
	bcEventually(t, "the reading viewer gets the last part", func() bool {
		select {
		case err := <-goodDone:
			t.Fatalf("the reading viewer's stream ended: %v", err)
		default:
		}
		return goodLast.Load() == parts
	})

	// The stalled viewer is dropped after its write deadline; the stuck one
	// (no deadline) stays as long as its connection does.
	bcViewers(t, b, 2)

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
	bcViewers(t, b, 1)
	// The stalled client's connection was closed by the server.
	stalled.conn.SetReadDeadline(time.Now().Add(bcWait))
	if _, err := io.Copy(io.Discard, stalled.conn); err != nil && !isReset(err) {
		t.Errorf("stalled connection: %v, want it closed by the server", err)
	}
	cancel()
	if err := <-goodDone; err == nil {
		t.Error("the reading viewer's stream ended cleanly after it left")
	}
	bcViewers(t, b, 0)

	s := b.Stats()
	if s.Published != parts || s.Skipped == 0 {
		t.Errorf("Stats = %+v, want %d published and some skipped", s, parts)
	}
}

// isReset reports whether err is a connection reset, which is how a server
// closing a connection with unread input shows at the client.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(err.Error(), "reset by peer")
}

// TestBroadcastManyViewers runs 50 HTTP viewers and 10 direct subscribers
// that join and leave at random while a producer publishes as fast as it can.
func TestBroadcastManyViewers(t *testing.T) {
	const httpViewers, directViewers = 50, 10
	b := &core.Broadcaster{}
	srv := bcServer(t, core.Handler(b.Subscribe, nil))

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
			if err := b.Publish(bcPart(seq, 64+seq%2000)); err != nil {
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
				seq := bcSeq(t, p)
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
				seq := bcSeq(t, p)
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
	bcEventually(t, "100 parts published", func() bool { return published.Load() >= 100 })
	// Every viewer that stays to the end is streaming before it ends.
	bcEventually(t, "the staying viewers stream", func() bool { return streaming.Load() == (httpViewers+3)/4 })
	close(stopProducer)
	<-producerDone
	final := int(published.Load())
	bcShutdown(t, b)
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

// bcSubscriber pulls parts from b.Subscribe in a goroutine, recording each
// with the time it came; it holds each part for hold before taking the next.
type bcSubscriber struct {
	mu   sync.Mutex
	got  []bcReceipt
	stop context.CancelFunc
	done chan struct{}
}

type bcReceipt struct {
	seq  int
	body []byte
	at   time.Time
	part core.Part
}

func bcSubscribe(t testing.TB, b *core.Broadcaster, hold time.Duration) *bcSubscriber {
	ctx, cancel := context.WithCancel(context.Background())
	s := &bcSubscriber{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for p := range b.Subscribe(ctx) {
			s.mu.Lock()
			r := bcReceipt{body: p.Body, at: time.Now(), part: p}
			if len(p.Body) >= 8 {
				r.seq = bcSeq(t, p)
			}
			s.got = append(s.got, r)
			s.mu.Unlock()
			if hold > 0 {
				time.Sleep(hold)
			}
		}
	}()
	return s
}

func (s *bcSubscriber) receipts() []bcReceipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bcReceipt(nil), s.got...)
}

func (s *bcSubscriber) end() []bcReceipt {
	s.stop()
	<-s.done
	return s.receipts()
}

func TestBroadcastSlowViewerSkips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts = 100
		b := &core.Broadcaster{}
		fast := bcSubscribe(t, b, 0)
		// 95.5 ms: the slow viewer never comes back at the instant of a
		// Publish, so which part is the newest is clear.
		slow := bcSubscribe(t, b, 95500*time.Microsecond)
		synctest.Wait()
		if n := b.Stats().Viewers; n != 2 {
			t.Fatalf("Viewers = %d", n)
		}
		for seq := 1; seq <= parts; seq++ {
			b.Publish(bcPart(seq, 100))
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		f, s := fast.end(), slow.end()
		for i, r := range f {
			if r.seq != i+1 {
				t.Fatalf("fast viewer: receipt %d is part %d", i, r.seq)
			}
		}
		if len(f) != parts {
			t.Fatalf("fast viewer got %d parts, want %d", len(f), parts)
		}
		if len(s) < 8 || len(s) > 15 || s[0].seq != 1 || s[len(s)-1].seq != parts {
			t.Fatalf("slow viewer got %d parts from %d to %d, want about 10 from 1 to %d", len(s), s[0].seq, s[len(s)-1].seq, parts)
		}
		for i := 1; i < len(s); i++ {
			if s[i].seq <= s[i-1].seq {
				t.Fatalf("slow viewer: part %d after %d", s[i].seq, s[i-1].seq)
			}
			// Latest wins: the slow viewer always takes the newest part.
			if want := min(parts, int(s[i].at.Sub(s[0].at)/(10*time.Millisecond))+1); s[i].seq != want {
				t.Errorf("slow viewer took part %d at %v, the newest was %d", s[i].seq, s[i].at.Sub(s[0].at), want)
			}
		}
		st := b.Stats()
		if want := uint64(parts - len(s)); st.Skipped != want {
			t.Errorf("Skipped = %d, want %d", st.Skipped, want)
		}
		if want := uint64(len(f) + len(s)); st.Sent != want {
			t.Errorf("Sent = %d, want %d", st.Sent, want)
		}
		if st.Viewers != 0 {
			t.Errorf("Viewers = %d", st.Viewers)
		}
	})
}

func TestBroadcastDropRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &core.Broadcaster{DropRepeats: true}
		sub := bcSubscribe(t, b, 0)
		synctest.Wait()
		steps := []struct {
			ct, body string
		}{
			{"image/jpeg", "A"},
			{"image/jpeg", "A"}, // dropped
			{"image/jpeg", "B"},
			{"image/jpeg", "B"}, // dropped
			{"image/jpeg", "B"}, // dropped
			{"image/png", "B"},  // another type: kept
			{"image/jpeg", "A"},
			{"", "A"},                         // application/octet-stream: kept
			{"application/octet-stream", "A"}, // the same type: dropped
		}
		for _, s := range steps {
			p := core.Part{Header: textproto.MIMEHeader{}, Body: []byte(s.body)}
			if s.ct != "" {
				p.Header.Set("Content-Type", s.ct)
			}
			if err := b.Publish(p); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		var got []string
		for _, r := range sub.end() {
			got = append(got, r.part.ContentType()+" "+string(r.body))
		}
		want := []string{"image/jpeg A", "image/jpeg B", "image/png B", "image/jpeg A", "application/octet-stream A"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("viewer got %q, want %q", got, want)
		}
		if st := b.Stats(); st.Published != 5 || st.Dropped != 4 || st.Sent != 5 {
			t.Errorf("Stats = %+v, want 5 published, 4 dropped, 5 sent", st)
		}

		// Without DropRepeats, equal parts all go out.
		b2 := &core.Broadcaster{}
		sub2 := bcSubscribe(t, b2, 0)
		synctest.Wait()
		for range 3 {
			b2.Publish(core.Text("same"))
			synctest.Wait()
		}
		if n := len(sub2.end()); n != 3 {
			t.Errorf("without DropRepeats the viewer got %d parts, want 3", n)
		}
		if st := b2.Stats(); st.Published != 3 || st.Dropped != 0 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

func TestBroadcastMaxFPS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts, gap = 100, 100 * time.Millisecond
		b := &core.Broadcaster{MaxFPS: 10}
		early := bcSubscribe(t, b, 0)
		synctest.Wait()
		start := time.Now()
		var late *bcSubscriber
		for seq := 1; seq <= parts; seq++ {
			b.Publish(bcPart(seq, 100))
			if seq == 6 {
				synctest.Wait()
				late = bcSubscribe(t, b, 0) // joins at 50 ms
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		for name, rs := range map[string][]bcReceipt{"early": early.end(), "late": late.end()} {
			if len(rs) < 9 || len(rs) > 12 {
				t.Errorf("%s viewer: %d parts in %v at 10 fps", name, len(rs), rs[len(rs)-1].at.Sub(start))
			}
			if last := rs[len(rs)-1].seq; last != parts {
				t.Errorf("%s viewer: last part %d, want %d", name, last, parts)
			}
			for i := 1; i < len(rs); i++ {
				if d := rs[i].at.Sub(rs[i-1].at); d < gap {
					t.Errorf("%s viewer: parts %d and %d only %v apart", name, rs[i-1].seq, rs[i].seq, d)
				}
				if rs[i].seq <= rs[i-1].seq {
					t.Errorf("%s viewer: part %d after %d", name, rs[i].seq, rs[i-1].seq)
				}
			}
		}
		// Each viewer has its own pace: the late one got its first part at
		// once, when it joined.
		if rs := late.receipts(); rs[0].seq != 6 || rs[0].at.Sub(start) != 50*time.Millisecond {
			t.Errorf("late viewer: first part %d at %v, want 6 at 50ms", rs[0].seq, rs[0].at.Sub(start))
		}
		if st := b.Stats(); st.Skipped == 0 {
			t.Errorf("Skipped = 0 with MaxFPS")
		}
	})
}

func TestBroadcastIdleRepeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &core.Broadcaster{IdleRepeat: time.Second}
		sub := bcSubscribe(t, b, 0)
		start := time.Now()
		// Nothing to repeat before the first part.
		time.Sleep(5 * time.Second)
		if n := len(sub.receipts()); n != 0 {
			t.Fatalf("%d parts before any Publish", n)
		}
		start = time.Now()
		b.Publish(bcPart(1, 100))
		time.Sleep(2500 * time.Millisecond) // repeats at 1s and 2s
		b.Publish(bcPart(2, 100))           // at 2.5s
		time.Sleep(1200 * time.Millisecond) // repeat at 3.5s
		rs := sub.end()
		type at struct {
			seq int
			at  time.Duration
		}
		var got []at
		for _, r := range rs {
			got = append(got, at{r.seq, r.at.Sub(start)})
		}
		want := []at{{1, 0}, {1, time.Second}, {1, 2 * time.Second}, {2, 2500 * time.Millisecond}, {2, 3500 * time.Millisecond}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("receipts %v, want %v", got, want)
		}
		if st := b.Stats(); st.Repeated != 3 || st.Sent != 5 || st.Published != 2 {
			t.Errorf("Stats = %+v, want 3 repeated, 5 sent", st)
		}
	})
}

var bcTimestampRE = regexp.MustCompile(`^[0-9]+\.[0-9]{6}$`)

func TestBroadcastTimestamps(t *testing.T) {
	t.Run("fake clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &core.Broadcaster{Timestamps: true}
			// The fake clock starts at 2000-01-01 00:00:00 UTC.
			b.Publish(core.JPEG([]byte("a")))
			p, _ := b.Snapshot()
			if got := p.Header.Get(core.TimestampHeader); got != "946684800.000000" {
				t.Errorf("%s = %q, want 946684800.000000", core.TimestampHeader, got)
			}
			time.Sleep(1234567 * time.Microsecond)
			b.Publish(core.JPEG([]byte("b")))
			p, _ = b.Snapshot()
			if got := p.Header.Get(core.TimestampHeader); got != "946684801.234567" {
				t.Errorf("%s = %q, want 946684801.234567", core.TimestampHeader, got)
			}
			time.Sleep(42 * time.Microsecond)
			b.Publish(core.JPEG([]byte("c")))
			p, _ = b.Snapshot()
			if got := p.Header.Get(core.TimestampHeader); got != "946684801.234609" {
				t.Errorf("%s = %q, want 946684801.234609", core.TimestampHeader, got)
			}
		})
	})
	t.Run("real clock", func(t *testing.T) {
		b := &core.Broadcaster{Timestamps: true}
		srv := bcServer(t, core.Handler(b.Subscribe, nil))
		t.Cleanup(func() { bcShutdown(t, b) })
		in := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "X-Other": {"1"}}, Body: []byte("frame")}
		if err := b.Publish(in); err != nil {
			t.Fatal(err)
		}
		if _, ok := in.Header[core.TimestampHeader]; ok || len(in.Header) != 2 {
			t.Errorf("Publish modified the caller's header: %v", in.Header)
		}
		v := bcWatch(t, srv.URL, "")
		p := v.next(t)
		ts := p.Header.Get(core.TimestampHeader)
		if !bcTimestampRE.MatchString(ts) {
			t.Fatalf("%s = %q, want seconds with 6 decimals", core.TimestampHeader, ts)
		}
		f, _ := strconv.ParseFloat(ts, 64)
		if d := time.Since(time.UnixMicro(int64(f * 1e6))); d < -time.Second || d > 10*time.Second {
			t.Errorf("%s = %s is %v away from now", core.TimestampHeader, ts, d)
		}
		if p.Header.Get("X-Other") != "1" || string(p.Body) != "frame" {
			t.Errorf("part %v %q", p.Header, p.Body)
		}
		// Each part has its own timestamp.
		time.Sleep(2 * time.Millisecond)
		b.Publish(core.JPEG([]byte("next")))
		if ts2 := v.next(t).Header.Get(core.TimestampHeader); !bcTimestampRE.MatchString(ts2) || ts2 <= ts {
			t.Errorf("second timestamp %q after %q", ts2, ts)
		}
	})
	// Without Timestamps, no header is added.
	var b core.Broadcaster
	b.Publish(core.JPEG([]byte("a")))
	if p, _ := b.Snapshot(); p.Header.Get(core.TimestampHeader) != "" {
		t.Errorf("%s set without Timestamps", core.TimestampHeader)
	}
}

// TestBroadcastShutdown ends open HTTP streams.
func TestBroadcastShutdown(t *testing.T) {
	b := &core.Broadcaster{}
	srv := bcServer(t, core.Handler(b.Subscribe, nil))
	b.Publish(bcPart(1, 1000))
	var vs []*bcViewer
	for _, ua := range []string{"", "Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0"} {
		v := bcWatch(t, srv.URL, ua)
		v.upTo(t, 1)
		vs = append(vs, v)
	}
	raw := bcRawGet(t, srv, "/")
	bcViewers(t, b, 3)
	b.Publish(bcPart(2, 2000))
	for _, v := range vs {
		v.upTo(t, 2)
	}
	b.Publish(bcPart(3, 3000)) // the viewers may not have it yet

	bcShutdown(t, b)
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
			if seq := bcSeq(t, p); seq != 3 {
				t.Errorf("viewer %d: part %d after Shutdown, want the last part (3)", i, seq)
			}
		}
	}
	end := raw.rest(t)
	if !bytes.HasSuffix(end, []byte("\r\n--"+raw.boundary+"--\r\n")) {
		t.Errorf("raw stream ends with %q, want the close delimiter", bcShort(end))
	}
	if !bytes.Contains(end, bcBody(3, 3000)) {
		t.Error("raw stream did not get the last part")
	}

	if err := b.Publish(bcPart(4, 10)); !errors.Is(err, core.ErrShutdown) {
		t.Errorf("Publish after Shutdown = %v, want ErrShutdown", err)
	}
	if p, ok := b.Snapshot(); !ok || bcSeq(t, p) != 3 {
		t.Errorf("Snapshot after Shutdown: want the last part")
	}
	// A viewer that comes after Shutdown gets an empty clean stream.
	late := bcWatch(t, srv.URL, "")
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
			b.Publish(bcPart(1, 10))
			sub := bcSubscribe(t, b, 0)
			synctest.Wait() // it has part 1 and waits for the next
			b.Publish(bcPart(2, 10))
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
			b.Publish(bcPart(1, 10))
			sub := bcSubscribe(t, b, 0)
			synctest.Wait()
			b.Publish(bcPart(2, 10))
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
			b.Publish(bcPart(1, 10))
			next, stop := iter.Pull(b.Subscribe(context.Background()))
			if p, ok := next(); !ok || bcSeq(t, p) != 1 {
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
		srv := bcServer(t, core.Handler(b.Subscribe, &core.Options{WriteTimeout: -1}))
		stuck := bcDial(t, srv, "/") // never reads
		bcViewers(t, b, 1)
		// Publish until the viewer is blocked writing: Sent stops moving.
		seq, sent, since := 0, uint64(0), time.Now()
		for deadline := time.Now().Add(bcWait); ; {
			seq++
			b.Publish(bcPart(seq, 256<<10))
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
		bcShutdown(t, b)
		if n := b.Stats().Viewers; n != 0 {
			t.Fatalf("Viewers = %d", n)
		}
	})
}

func TestSnapshotHandler(t *testing.T) {
	b := &core.Broadcaster{}
	srv := bcServer(t, b.SnapshotHandler())
	client := srv.Client()

	// A GET before the first part waits for it.
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			got <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{resp, body, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("snapshot answered before the first part: %v %v", r.resp, r.err)
	case <-time.After(150 * time.Millisecond):
	}
	first := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, core.TimestampHeader: {"12.5"}, "X-Frame": {"1"},
		"Content-Encoding": {"gzip"}, "Set-Cookie": {"a=b"}, "Access-Control-Allow-Origin": {"*"}, "Transfer-Encoding": {"chunked"}, core.FinalHeader: {"x"}}, Body: bcBody(1, 5000)}
	if err := b.Publish(first); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(bcWait):
		t.Fatal("snapshot still waiting after Publish")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	h := r.resp.Header
	if r.resp.StatusCode != 200 || h.Get("Content-Type") != "image/jpeg" || h.Get("Content-Length") != "5000" ||
		h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get(core.TimestampHeader) != "12.5" ||
		h.Get("X-Frame") != "" || h.Get(core.FinalHeader) != "" || h.Get("Content-Encoding") != "" || h.Get("Set-Cookie") != "" ||
		h.Get("Access-Control-Allow-Origin") != "" || len(r.resp.TransferEncoding) != 0 {
		t.Errorf("snapshot response %d %v", r.resp.StatusCode, h)
	}
	if !bytes.Equal(r.body, bcBody(1, 5000)) {
		t.Errorf("snapshot body of %d bytes differs", len(r.body))
	}

	// Later GETs get the latest part.
	b.Publish(bcPart(2, 10))
	b.Publish(core.PNG(bcBody(3, 777)))
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.ContentLength != 777 || !bytes.Equal(body, bcBody(3, 777)) {
		t.Errorf("snapshot: %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}

	// HEAD: the headers, no body.
	resp, err = client.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Content-Length") != "777" || len(body) != 0 {
		t.Errorf("HEAD: %d %v, %d bytes of body", resp.StatusCode, resp.Header, len(body))
	}
	raw := bcRawGet(t, srv, "/") // the raw response has exactly the body
	if raw.header.Get("Content-Length") != "777" {
		t.Errorf("raw Content-Length %q", raw.header.Get("Content-Length"))
	}
	raw.expect(t, string(bcBody(3, 777)))

	// Other methods: 405 with Allow.
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader("x"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestSnapshotHandlerWaiting(t *testing.T) {
	b := &core.Broadcaster{}
	srv := bcServer(t, b.SnapshotHandler())
	// A client that gives up while waiting for the first part: the handler
	// returns (no goroutine is left behind).
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("snapshot answered %d before any part", resp.StatusCode)
	}
	// Shutdown before any part: waiting requests get 503.
	got := make(chan int, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Error(err)
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	bcShutdown(t, b)
	select {
	case code := <-got:
		if code != http.StatusServiceUnavailable {
			t.Errorf("snapshot after Shutdown with no part: %d, want 503", code)
		}
	case <-time.After(bcWait):
		t.Fatal("snapshot still waiting after Shutdown")
	}
}
