package core

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers of this file are prefixed with bench.

func benchBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"256KiB", 256 << 10}}

// BenchmarkWriterWritePart frames a part on io.Discard: 0 allocs/op.
func BenchmarkWriterWritePart(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			p := JPEG(benchBody(s.size))
			p.Header.Set("X-Timestamp", "1700000000.000001")
			w := NewWriter(io.Discard)
			w.WritePart(p) // opening delimiter, buffer growth
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := w.WritePart(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriterPrebuilt writes a part framed once by a Broadcaster through
// a Writer with the Broadcaster's boundary: one Write of shared bytes, 0
// allocs/op.
func BenchmarkWriterPrebuilt(b *testing.B) {
	for _, mode := range []Mode{ModeLength, ModeAdvance} {
		b.Run(mode.String(), func(b *testing.B) {
			var bc Broadcaster
			if err := bc.Publish(JPEG(benchBody(64 << 10))); err != nil {
				b.Fatal(err)
			}
			p, _ := bc.Snapshot()
			w := NewWriter(io.Discard)
			if err := w.SetBoundary(bc.boundary); err != nil {
				b.Fatal(err)
			}
			w.SetMode(mode)
			if !p.frame.fits(p, w.Boundary()) {
				b.Fatal("the snapshot part carries no framing for the Writer's boundary")
			}
			w.WritePart(p)
			b.SetBytes(int64(len(p.Body)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := w.WritePart(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRW is an http.ResponseWriter that discards what is written, with the
// Flush and SetWriteDeadline of net/http's (so that Serve's
// ResponseController finds them without wrapping errors). After each flush
// that follows a Write, it calls onFlush.
type benchRW struct {
	header  http.Header
	wrote   bool
	n       int64
	onFlush func()
}

func (w *benchRW) Header() http.Header { return w.header }
func (w *benchRW) WriteHeader(int)     {}
func (w *benchRW) Write(p []byte) (int, error) {
	w.wrote = true
	w.n += int64(len(p))
	return len(p), nil
}
func (w *benchRW) Flush() {
	if w.wrote && w.onFlush != nil {
		w.onFlush()
	}
	w.wrote = false
}
func (w *benchRW) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkServePart runs one Serve of b.N parts on a ResponseWriter with no
// network: the per-request setup is amortized, so allocs/op is the cost per
// part (0 in steady state).
func BenchmarkServePart(b *testing.B) {
	for _, s := range benchSizes[:2] {
		for _, mode := range []Mode{ModeLength, ModeAdvance} {
			b.Run(s.name+"/"+mode.String(), func(b *testing.B) {
				p := JPEG(benchBody(s.size))
				src := func(ctx context.Context) iter.Seq[Part] {
					return func(yield func(Part) bool) {
						for range b.N {
							if !yield(p) {
								return
							}
						}
					}
				}
				w := &benchRW{header: http.Header{}}
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				opts := &Options{Mode: mode}
				b.SetBytes(int64(s.size))
				b.ReportAllocs()
				b.ResetTimer()
				if err := Serve(w, r, src, opts); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkPublish measures Publish of a 50 KB part with N subscribers
// pulling parts from Subscribe in their goroutines. Publish does not wait
// for them: they skip to the newest part when they fall behind.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			benchPublish(b, n, false)
		})
	}
}

// BenchmarkPublishDelivered publishes a 50 KB part and waits until each of N
// subscribers has it: ns/op is the time to hand one part to N viewers;
// allocs/part/viewer counts every allocation of the process in that time
// (Publish's own included) divided by N.
func BenchmarkPublishDelivered(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			benchPublish(b, n, true)
		})
	}
}

func benchPublish(b *testing.B, n int, wait bool) {
	bc := &Broadcaster{}
	ctx, cancel := context.WithCancel(context.Background())
	var remaining atomic.Int64
	done := make(chan struct{}, 1)
	var received atomic.Uint64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range bc.Subscribe(ctx) {
				if !wait {
					received.Add(1)
					continue
				}
				if remaining.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		})
	}
	for bc.Stats().Viewers != n {
		time.Sleep(time.Millisecond)
	}
	p := JPEG(benchBody(50 << 10))
	var m0, m1 runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	runtime.ReadMemStats(&m0)
	b.StartTimer()
	for range b.N {
		if wait {
			remaining.Store(int64(n))
		}
		if err := bc.Publish(p); err != nil {
			b.Fatal(err)
		}
		if wait {
			<-done
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	cancel()
	wg.Wait()
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(n), "allocs/part/viewer")
	if !wait {
		b.ReportMetric(float64(received.Load())/float64(b.N)/float64(n), "delivered/part/viewer")
	}
}

// BenchmarkFanout serves one Broadcaster to 100 viewers through Serve on
// ResponseWriters that discard (no network), and waits until every viewer
// has written and flushed each part: allocs/part/viewer should be 0 (what
// remains is Publish's framing of the part, once for all viewers).
func BenchmarkFanout(b *testing.B) {
	for _, mode := range []Mode{ModeLength, ModeAdvance} {
		b.Run(mode.String(), func(b *testing.B) {
			benchFanout(b, 100, mode)
		})
	}
}

func benchFanout(b *testing.B, n int, mode Mode) {
	bc := &Broadcaster{}
	ctx, cancel := context.WithCancel(context.Background())
	var remaining atomic.Int64
	done := make(chan struct{}, 1)
	opts := &Options{Mode: mode}
	var wg sync.WaitGroup
	rws := make([]*benchRW, n)
	for i := range n {
		w := &benchRW{header: http.Header{}, onFlush: func() {
			if remaining.Add(-1) == 0 {
				select {
				case done <- struct{}{}:
				default:
				}
			}
		}}
		rws[i] = w
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		wg.Go(func() {
			if err := Serve(w, r, bc.Subscribe, opts); err != nil {
				b.Error(err)
			}
		})
	}
	for bc.Stats().Viewers != n {
		time.Sleep(time.Millisecond)
	}
	p := JPEG(benchBody(50 << 10))
	var m0, m1 runtime.MemStats
	b.SetBytes(int64(len(p.Body)) * int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	runtime.ReadMemStats(&m0)
	b.StartTimer()
	for range b.N {
		remaining.Store(int64(n))
		if err := bc.Publish(p); err != nil {
			b.Fatal(err)
		}
		<-done
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	remaining.Store(1 << 40) // the final flushes signal nothing
	cancel()
	wg.Wait()
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(n), "allocs/part/viewer")
	var written int64
	for _, w := range rws {
		written += w.n
	}
	if min := int64(b.N) * int64(n) * int64(len(p.Body)); written < min {
		b.Fatalf("viewers wrote %d bytes, want at least %d", written, min)
	}
}
