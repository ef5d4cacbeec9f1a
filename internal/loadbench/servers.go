package loadbench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mxreplace/mx/core"
)

// httpServer is the net/http part shared by the mx, gin and idle servers.
type httpServer struct{ srv *http.Server }

func (s *httpServer) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// mxServer is mx as a user sets it up for a camera.
type mxServer struct {
	httpServer
	b core.Broadcaster
}

func newMX(chunked bool) *mxServer {
	s := &mxServer{}
	s.b.Timestamps = true
	mux := http.NewServeMux()
	var opts *core.Options
	if chunked {
		opts = &core.Options{Chunked: true}
	}
	mux.Handle("GET /stream", core.Handler(s.b.Subscribe, opts))
	s.srv = core.NewServer("", mux)
	return s
}

func (s *mxServer) Publish(body []byte, _ time.Time) {
	s.b.Publish(core.JPEG(body)) // the Broadcaster stamps X-Timestamp itself
}

func (s *mxServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.b.Shutdown(ctx)
	return s.srv.Close()
}

// frame is a frame as the handwritten servers pass it around.
type frame struct {
	body      []byte
	timestamp string
}

// ginServer is the usual handwritten gin MJPEG handler: a hub hands each
// frame to a per-client channel of one, dropping the older frame, and the
// handler frames it with mime/multipart.Writer and flushes.
type ginServer struct {
	httpServer
	mu      sync.Mutex
	clients map[chan frame]struct{}
}

func newGin() *ginServer {
	s := &ginServer{clients: map[chan frame]struct{}{}}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/stream", s.stream)
	s.srv = &http.Server{Handler: r}
	return s
}

func (s *ginServer) Publish(body []byte, t time.Time) {
	f := frame{body: body, timestamp: Timestamp(t)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.clients {
		select {
		case ch <- f:
		default: // the client has not taken the last frame: replace it
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- f:
			default:
			}
		}
	}
}

func (s *ginServer) stream(c *gin.Context) {
	ch := make(chan frame, 1)
	s.mu.Lock()
	s.clients[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, ch)
		s.mu.Unlock()
	}()

	mw := multipart.NewWriter(c.Writer)
	c.Header("Content-Type", "multipart/x-mixed-replace; boundary="+mw.Boundary())
	c.Header("Cache-Control", "no-cache, no-store, must-revalidate")
	c.Status(http.StatusOK)
	c.Writer.Flush()
	ctx := c.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-ch:
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", "image/jpeg")
			h.Set("Content-Length", strconv.Itoa(len(f.body)))
			h.Set("X-Timestamp", f.timestamp)
			w, err := mw.CreatePart(h)
			if err != nil {
				return
			}
			if _, err := w.Write(f.body); err != nil {
				return
			}
			c.Writer.Flush()
		}
	}
}

func (s *ginServer) Close() error { return s.srv.Close() }

// idleServer answers /stream with the headers of a stream and no parts.
type idleServer struct{ httpServer }

func newIdle() *idleServer {
	s := &idleServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=idle")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	s.srv = &http.Server{Handler: mux}
	return s
}

func (s *idleServer) Publish([]byte, time.Time) {}
func (s *idleServer) Close() error              { return s.srv.Close() }

// tcpServer writes HTTP/1.1 by hand: one fixed response header per
// connection, then one prebuilt buffer per frame with a single Write.
type tcpServer struct {
	boundary string
	head     []byte // response header and the first delimiter
	latest   atomic.Pointer[tcpFrame]
	mu       sync.Mutex // serializes Publish; guards ls, conns and closed
	ls       []net.Listener
	conns    map[net.Conn]struct{}
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// tcpFrame is a frame framed once for every viewer, and the channel closed
// when a newer one replaces it.
type tcpFrame struct {
	seq  uint64
	buf  []byte
	next chan struct{}
}

func newTCP() *tcpServer {
	var b [16]byte
	rand.Read(b[:])
	s := &tcpServer{boundary: hex.EncodeToString(b[:]), conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.head = []byte("HTTP/1.1 200 OK\r\n" +
		"Content-Type: multipart/x-mixed-replace; boundary=" + s.boundary + "\r\n" +
		"Cache-Control: no-cache, no-store, must-revalidate\r\n" +
		"X-Accel-Buffering: no\r\n" +
		"Connection: close\r\n" +
		"\r\n" +
		"--" + s.boundary + "\r\n")
	s.latest.Store(&tcpFrame{next: make(chan struct{})})
	return s
}

func (s *tcpServer) Publish(body []byte, t time.Time) {
	ts := Timestamp(t)
	buf := make([]byte, 0, len(body)+len(ts)+len(s.boundary)+96)
	buf = append(buf, "Content-Type: image/jpeg\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\nX-Timestamp: "...)
	buf = append(buf, ts...)
	buf = append(buf, "\r\n\r\n"...)
	buf = append(buf, body...)
	buf = append(buf, "\r\n--"...)
	buf = append(buf, s.boundary...)
	buf = append(buf, "\r\n"...)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.latest.Load()
	s.latest.Store(&tcpFrame{seq: old.seq + 1, buf: buf, next: make(chan struct{})})
	close(old.next)
}

func (s *tcpServer) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.ls = append(s.ls, l)
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *tcpServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	if req.URL.Path != "/stream" || req.Method != http.MethodGet {
		c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nNot Found."))
		return
	}
	if _, err := c.Write(s.head); err != nil {
		return
	}
	// Notice a client that leaves even when no frame comes.
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		c.Read(b[:])
		close(gone)
	}()
	var seen uint64
	for {
		f := s.latest.Load()
		if f.seq > seen {
			seen = f.seq
			if _, err := c.Write(f.buf); err != nil {
				return
			}
			continue
		}
		select {
		case <-f.next:
		case <-gone:
			return
		case <-s.done:
			return
		}
	}
}

func (s *tcpServer) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		for _, l := range s.ls {
			l.Close()
		}
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
