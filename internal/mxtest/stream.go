package mxtest

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// Arrival is one item of a stream as a client read it. It holds a part,
// or the error that ended the stream, and when it was read.
type Arrival struct {
	Part core.Part
	Err  error
	At   time.Time
}

// Stream reads the parts of a multipart/x-mixed-replace response in the
// background. Each part is stamped as soon as its delimiter has been read.
type Stream struct {
	Resp *http.Response
	ch   chan Arrival
}

// Open checks resp's status and headers with CheckHeaders. Then it starts
// reading the parts of body: resp.Body, or a decoder reading it. The body
// is closed and the reader stopped when the test ends.
func Open(t testing.TB, resp *http.Response, body io.Reader) *Stream {
	t.Helper()
	t.Cleanup(func() { resp.Body.Close() })
	boundary := CheckHeaders(t, resp)
	s := &Stream{Resp: resp, ch: make(chan Arrival, 256)}
	go func() {
		defer close(s.ch)
		for p, err := range core.Read(body, boundary, nil) {
			s.ch <- Arrival{Part: p, Err: err, At: time.Now()}
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// OpenGet sends a GET for url with c and opens its stream.
func OpenGet(t testing.TB, c *http.Client, url string, kv ...string) *Stream {
	t.Helper()
	resp := Get(t, c, url, kv...)
	return Open(t, resp, resp.Body)
}

// Close closes the response body and waits for the reader to stop.
func (s *Stream) Close() {
	s.Resp.Body.Close()
	for range s.ch {
	}
}

// Next returns the next part, or ok false after a clean end. It fails the
// test if the stream ends with an error, or if nothing comes in time.
func (s *Stream) Next(t testing.TB, timeout time.Duration) (a Arrival, ok bool) {
	t.Helper()
	a, ok, timedOut := s.next(timeout)
	if timedOut {
		t.Fatalf("no part and no end of the stream within %v", timeout)
	}
	if ok && a.Err != nil {
		t.Fatalf("stream ended with an error: %v", a.Err)
	}
	return a, ok
}

func (s *Stream) next(timeout time.Duration) (a Arrival, ok, timedOut bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case a, ok = <-s.ch:
		return a, ok, false
	case <-timer.C:
		return Arrival{}, false, true
	}
}

// End reads the rest of the stream. It returns the error that ended it,
// or nil for a clean end. It fails the test if the stream does not end
// within timeout.
func (s *Stream) End(t testing.TB, timeout time.Duration) error {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case a, ok := <-s.ch:
			if !ok {
				return nil
			}
			if a.Err != nil {
				return a.Err
			}
		case <-timer.C:
			t.Fatalf("stream did not end within %v", timeout)
			return nil
		}
	}
}

// All returns the remaining parts once the stream has ended. It fails the
// test if the stream does not end cleanly within timeout.
func (s *Stream) All(t testing.TB, timeout time.Duration) []Arrival {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []Arrival
	for {
		a, ok := s.Next(t, time.Until(deadline))
		if !ok {
			return got
		}
		got = append(got, a)
	}
}
