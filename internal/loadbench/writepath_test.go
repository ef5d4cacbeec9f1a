//go:build unix

package loadbench

import (
	"context"
	"io"
	"iter"
	"net"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// BenchmarkWritePath measures the cost of sending one 640x480 frame to one
// viewer over loopback TCP: "tcp" writes the prebuilt buffer with one
// conn.Write, "mx" and "mx-plain" go through core.Serve and net/http with
// the frame as a Broadcaster frames it. Each includes the client, which
// reads and discards. cpu-ns/op is the process's user+system CPU time per
// frame, the figure that matters on a busy server.
func BenchmarkWritePath(b *testing.B) {
	frames, err := Frames(640, 480, 75, 1)
	if err != nil {
		b.Fatal(err)
	}
	var bc core.Broadcaster
	bc.Timestamps = true
	bc.Publish(core.JPEG(frames[0]))
	part, _ := bc.Snapshot()
	tcp := newTCP()
	tcp.Publish(frames[0], time.Now())
	buf := tcp.latest.Load().buf

	b.Run("tcp", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
		measure(b, l.Addr().String(), false)
	})

	// "mx" is Serve on core.NewServer's settings (DirectWrites: parts go
	// straight to the connection); "mx-plain" through net/http's response
	// writer and flush, as under a middleware's wrapper.
	for _, direct := range []bool{true, false} {
		name := "mx"
		if !direct {
			name = "mx-plain"
		}
		b.Run(name, func(b *testing.B) {
			n := b.N
			src := func(ctx context.Context) iter.Seq[core.Part] {
				bc.Subscribe(ctx) // frame the response with the Broadcaster's boundary, as a viewer would
				return func(yield func(core.Part) bool) {
					for range n {
						if !yield(part) {
							return
						}
					}
				}
			}
			srv := httptest.NewUnstartedServer(core.Handler(src, nil))
			if direct {
				core.DirectWrites(srv.Config)
			}
			srv.Start()
			defer srv.Close()
			measure(b, srv.Listener.Addr().String(), true)
		})
	}
}

// measure reads and discards everything the server at addr sends (after
// sending a GET if get) and reports the CPU time per frame. The server
// sends b.N frames, then closes the connection.
func measure(b *testing.B, addr string, get bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(19000)
	b.ResetTimer()
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	if get {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	}
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	b.StopTimer()
	cpu := r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
