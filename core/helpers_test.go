package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// Helpers shared by the external tests of core. Each one fails the test
// itself (t.Fatal) when it cannot do its job, and cleans up after itself
// with t.Cleanup.

// waitLimit bounds every wait for something that should happen at once. The
// machines that run the tests may be small and shared, so it is generous.
const waitLimit = 15 * time.Second

// User-Agents of the two browser families that get different wire modes.
const (
	chromeUA  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

// eventually polls cond until it holds. It fails the test after waitLimit;
// what names the awaited condition.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// proto is how a test server speaks to its clients.
type proto int

const (
	h1      proto = iota // HTTP/1.1 set up as core.NewServer does: with core.DirectWrites
	h1Plain              // HTTP/1.1 on a bare http.Server: every write through net/http
	h2                   // HTTP/2 with TLS
)

func (p proto) String() string { return [...]string{"HTTP/1.1", "HTTP/1.1 plain", "HTTP/2"}[p] }

// major is the protocol's major version, as a response reports it.
func (p proto) major() int { return map[proto]int{h1: 1, h1Plain: 1, h2: 2}[p] }

// newServer serves h over p. Use its Client() to reach it over HTTP/2. Its
// error log is discarded. At cleanup it cuts the connections still open,
// then closes, so that no handler outlives the test.
func newServer(t testing.TB, h http.Handler, p proto) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	switch p {
	case h1:
		core.DirectWrites(srv.Config)
		srv.Start()
	case h1Plain:
		srv.Start()
	case h2:
		srv.EnableHTTP2 = true
		srv.StartTLS()
	}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// eachProto runs f in parallel subtests, one per proto.
func eachProto(t *testing.T, f func(t *testing.T, p proto)) {
	for _, p := range []proto{h1, h1Plain, h2} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			f(t, p)
		})
	}
}

// get sends a GET for url with c and returns the response. hdr holds header
// names and values in turn. The body is closed at cleanup.
func get(t testing.TB, ctx context.Context, c *http.Client, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// viewer reads a stream with core.ReadResponse in a goroutine.
type viewer struct {
	resp     *http.Response
	boundary string
	parts    chan core.Part
	err      error // valid once parts is closed
	cancel   context.CancelFunc
}

// watch opens the stream at url with http.DefaultClient and starts reading
// it. A userAgent of "" sends Go's default User-Agent. The viewer leaves at
// cleanup.
func watch(t testing.TB, url, userAgent string) *viewer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var hdr []string
	if userAgent != "" {
		hdr = []string{"User-Agent", userAgent}
	}
	resp := get(t, ctx, http.DefaultClient, url, hdr...)
	v := &viewer{resp: resp, parts: make(chan core.Part), cancel: cancel}
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

// next returns the next part. It fails the test if the stream ends or no
// part comes within waitLimit.
func (v *viewer) next(t testing.TB) core.Part {
	t.Helper()
	select {
	case p, ok := <-v.parts:
		if !ok {
			t.Fatalf("stream ended early (err %v)", v.err)
		}
		return p
	case <-time.After(waitLimit):
		t.Fatal("timed out waiting for a part")
	}
	panic("unreachable")
}

// upTo reads seqPart parts up to the one numbered want and returns how many
// it read. Sequence numbers must grow.
func (v *viewer) upTo(t testing.TB, want int) int {
	t.Helper()
	last, n := -1, 0
	for last != want {
		seq := seqOf(t, v.next(t))
		n++
		if seq <= last || seq > want {
			t.Fatalf("got part %d after %d, waiting for %d", seq, last, want)
		}
		last = seq
	}
	return n
}

// rest reads the stream to its end and returns the parts and the error.
func (v *viewer) rest(t testing.TB) ([]core.Part, error) {
	t.Helper()
	var parts []core.Part
	timeout := time.After(waitLimit)
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

// close leaves the stream and waits for the reading goroutine.
func (v *viewer) close() {
	v.cancel()
	v.resp.Body.Close()
	for range v.parts {
	}
}

// rawClient is a raw HTTP/1.1 client. It sends a GET and reads the response
// body byte for byte, with its transfer framing if any.
type rawClient struct {
	conn     net.Conn
	br       *bufio.Reader
	status   string
	header   textproto.MIMEHeader
	boundary string
}

// dial connects to srv and sends a GET for path. It reads nothing.
func dial(t testing.TB, srv *httptest.Server, path string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: mx.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return &rawClient{conn: conn}
}

// rawGet sends a GET for path and reads the status line and the header. The
// status must be 200.
func rawGet(t testing.TB, srv *httptest.Server, path string) *rawClient {
	t.Helper()
	r := dial(t, srv, path)
	r.conn.SetReadDeadline(time.Now().Add(waitLimit))
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
func (r *rawClient) expect(t testing.TB, want string) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(waitLimit))
	got := make([]byte, len(want))
	if n, err := io.ReadFull(r.br, got); err != nil {
		t.Fatalf("read %d of %d bytes: %v; got %q", n, len(want), err, abbrev(got[:n]))
	}
	if string(got) != want {
		t.Fatalf("raw body:\n got %q\nwant %q", abbrev(got), abbrev([]byte(want)))
	}
}

// rest reads the raw body to EOF.
func (r *rawClient) rest(t testing.TB) []byte {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(r.br)
	if err != nil {
		t.Fatalf("reading to EOF: %v (got %q)", err, abbrev(b))
	}
	return b
}

// isReset reports whether err is a connection reset. A server that closes a
// connection with unread input shows so at the client.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(err.Error(), "reset by peer")
}

// abbrev returns b as a string, its middle cut when it is over 200 bytes.
func abbrev(b []byte) string {
	if len(b) > 200 {
		return string(b[:100]) + fmt.Sprintf("...(%d bytes)...", len(b)-200) + string(b[len(b)-100:])
	}
	return string(b)
}

// lengthFrame is the wire form of a part with only a Content-Type, in the
// length mode: header block, body, delimiter.
func lengthFrame(ct string, body []byte, boundary string) string {
	return "Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" +
		string(body) + "\r\n--" + boundary + "\r\n"
}

// partsSource is a Source that yields parts without pause.
func partsSource(parts ...core.Part) core.Source {
	return func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			for _, p := range parts {
				if !yield(p) {
					return
				}
			}
		}
	}
}

// step is a part of a timedSource and the pause that follows it.
type step struct {
	part  core.Part
	pause time.Duration
}

// timedSource is a Source that yields its steps in real time. It records
// when it handed over each part and closes done when it returns. It returns
// early when the request's context is done, also during a pause. Serve one
// request with it only.
type timedSource struct {
	steps []step
	mu    sync.Mutex
	sent  []time.Time
	done  chan struct{}
}

// newTimedSource returns a timedSource of n text parts, "part 0" to
// "part n-1", gap apart.
func newTimedSource(n int, gap time.Duration) *timedSource {
	steps := make([]step, n)
	for i := range steps {
		steps[i] = step{core.Text(fmt.Sprint("part ", i)), gap}
	}
	return stepSource(steps)
}

// stepSource returns a timedSource of steps. The pause of the last step is
// not taken.
func stepSource(steps []step) *timedSource {
	return &timedSource{steps: steps, done: make(chan struct{})}
}

// Source is the core.Source: it yields the steps to one request.
func (s *timedSource) Source(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		defer close(s.done)
		for i, st := range s.steps {
			if i > 0 {
				select {
				case <-time.After(s.steps[i-1].pause):
				case <-ctx.Done():
					return
				}
			}
			s.mu.Lock()
			s.sent = append(s.sent, time.Now())
			s.mu.Unlock()
			if !yield(st.part) {
				return
			}
		}
	}
}

// logBuffer collects what a logger writes. It is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// logger returns a text slog.Logger that writes to l.
func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// Write appends p.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was written so far.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lookPath returns the path of the program name, and skips the test when it
// is not installed. pkg names the Debian package that has it.
func lookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s): skipping", name, pkg)
	}
	return p
}

// lastPart returns p marked as the last part of its stream.
func lastPart(p core.Part) core.Part {
	p.Last = true
	return p
}

// countMultipart reads r with mime/multipart and returns the number of parts
// before io.EOF, or the error that ended it.
func countMultipart(r io.Reader, boundary string) (int, error) {
	mr := multipart.NewReader(r, boundary)
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if _, err := io.Copy(io.Discard, p); err != nil {
			return n, err
		}
		n++
	}
}

// streamBoundary returns the boundary Serve uses by default, which every
// Broadcaster frames its parts for.
func streamBoundary(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	core.Serve(rec, httptest.NewRequest(http.MethodHead, "/", nil), nil, nil)
	_, b, ok := strings.Cut(rec.Header().Get("Content-Type"), "boundary=")
	if !ok {
		t.Fatalf("no boundary in %q", rec.Header().Get("Content-Type"))
	}
	return b
}
