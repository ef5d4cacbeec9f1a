package mxtest

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// Parts returns n small parts of varied types with distinct bodies. They
// are text, HTML and the demo's PNG with its index appended.
func Parts(n int) []core.Part {
	ps := make([]core.Part, n)
	for i := range ps {
		switch i % 3 {
		case 0:
			ps[i] = core.Text(fmt.Sprintf("part %d", i))
		case 1:
			ps[i] = core.HTML(fmt.Sprintf("<!doctype html><h1>part %d</h1>", i))
		default:
			ps[i] = core.PNG(append(bytes.Clone(demo.PNG), byte(i)))
		}
	}
	return ps
}

// Stepper is a source for one request that yields its parts in lock step
// with the client. It yields part i+1 only once Check has received part
// i. A server or middleware may hold a part back until more data comes: a
// delimiter sent with the next part, or a buffer not flushed. Then the
// part never arrives, and Check fails, with no timing involved.
type Stepper struct {
	parts []core.Part
	next  chan struct{}
}

// NewStepper returns a Stepper of parts.
func NewStepper(parts []core.Part) *Stepper {
	return &Stepper{parts: parts, next: make(chan struct{})}
}

// Source is the Stepper as a core.Source.
func (s *Stepper) Source(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		for i, p := range s.parts {
			if !yield(p) {
				return
			}
			if i == len(s.parts)-1 {
				return
			}
			select {
			case <-s.next:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Check reads s's parts from st one at a time and checks each. Only then
// it lets the source produce the next one. It fails if a part does not
// arrive complete, with its delimiter, while the source waits. It fails
// if the stream does not then end cleanly.
func (s *Stepper) Check(t testing.TB, st *Stream) {
	t.Helper()
	const wait = 10 * time.Second
	for i, want := range s.parts {
		a, ok, timedOut := st.next(wait)
		switch {
		case timedOut:
			t.Fatalf("part %d did not arrive within %v while the source waited for it to be received: held back", i, wait)
		case !ok:
			t.Fatalf("stream ended after %d parts, want %d", i, len(s.parts))
		case a.Err != nil:
			t.Fatalf("stream ended with an error after %d parts: %v", i, a.Err)
		}
		CheckPart(t, i, a.Part, want)
		if i < len(s.parts)-1 {
			select {
			case s.next <- struct{}{}:
			case <-time.After(wait):
				t.Fatalf("source did not ask for part %d", i+1)
			}
		}
	}
	if a, ok := st.Next(t, wait); ok {
		t.Fatalf("extra part after the last one: %q", a.Part.Body)
	}
}

// CheckPart checks that got, as read back, is want. Content-Type and body
// must be equal, and Content-Length must match the body.
func CheckPart(t testing.TB, i int, got, want core.Part) {
	t.Helper()
	if g, w := got.ContentType(), want.ContentType(); g != w {
		t.Errorf("part %d: Content-Type %q, want %q", i, g, w)
	}
	if g, w := got.Header.Get("Content-Length"), fmt.Sprint(len(want.Body)); g != w {
		t.Errorf("part %d: Content-Length %q, want %s", i, g, w)
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("part %d: body %.60q, want %.60q", i, got.Body, want.Body)
	}
}

// Blocker is a source that yields one part, then blocks until its context
// is done or a minute passes. It reports when it returned. So it shows
// whether a client that leaves stops the producer between parts.
type Blocker struct {
	returned chan time.Time
}

// NewBlocker returns a Blocker for one request.
func NewBlocker() *Blocker { return &Blocker{returned: make(chan time.Time, 1)} }

// Source is the Blocker as a core.Source.
func (b *Blocker) Source(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		defer func() { b.returned <- time.Now() }()
		if !yield(core.Text("first")) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
	}
}

// CheckDisconnect requests url, served by b.Source, with c. It reads the
// first part and cancels the request. The producer must return within a
// second.
func (b *Blocker) CheckDisconnect(t testing.TB, c *http.Client, url string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := Do(t, c, ctx, http.MethodGet, url)
	st := Open(t, resp, resp.Body)
	if a, ok := st.Next(t, 10*time.Second); !ok || string(a.Part.Body) != "first" {
		t.Fatalf("first part: %q (ok %v), want \"first\"", a.Part.Body, ok)
	}
	cancel()
	left := time.Now()
	select {
	case ret := <-b.returned:
		d := ret.Sub(left)
		t.Logf("producer returned %v after the client left", d.Round(time.Microsecond))
		if d > time.Second {
			t.Errorf("producer returned %v after the client left, want < 1s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("producer still running 10s after the client left")
	}
}

// Timed wraps a source and records when each part was handed to the
// server. A test can then tell whether a part arrived before the next one
// was even produced.
type Timed struct {
	mu     sync.Mutex
	yields []time.Time
}

// Wrap returns src, recording the time of each part it yields.
func (r *Timed) Wrap(src core.Source) core.Source {
	return func(ctx context.Context) iter.Seq[core.Part] {
		return func(yield func(core.Part) bool) {
			for p := range src(ctx) {
				r.mu.Lock()
				r.yields = append(r.yields, time.Now())
				r.mu.Unlock()
				if !yield(p) {
					return
				}
			}
		}
	}
}

// Yields returns the recorded times.
func (r *Timed) Yields() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.yields...)
}

// PanicAfterFirst is a source that yields one part and then panics. So
// the stream is cut after its first byte.
func PanicAfterFirst(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		if yield(core.Text("first")) {
			panic("mxtest: source panics on purpose")
		}
	}
}
