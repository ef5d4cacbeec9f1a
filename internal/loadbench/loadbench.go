// Package loadbench holds the servers of the fan-out comparison, which
// measures mx against a plain TCP server. Each serves the same pre-encoded
// JPEG frames with the same part headers (Content-Type: image/jpeg,
// Content-Length, X-Timestamp with the publish time in Unix seconds and
// microseconds):
//
//   - "mx": a core.Broadcaster behind core.Handler(b.Subscribe, nil) on
//     the http.Server of core.NewServer, default options;
//   - "gin": what users write without mx, a gin handler looping over a
//     mime/multipart.Writer (CreatePart, Write, Flush per frame), fed by a
//     per-client channel of one frame that drops the older frame;
//   - "tcp": a plain TCP server that writes one prebuilt buffer (header,
//     body, delimiter, framed once per frame and shared by every viewer)
//     per frame per viewer with a single Write: the practical limit;
//   - "idle": a bare net/http handler that flushes its headers and waits for
//     the client to leave, the floor of the idle-viewer memory test.
//
// The command ./cmd/fanout serves any of them; TestFanoutComparison (with
// MX_LOAD=1) runs each as a process under cmd/mxload and measures its CPU
// and memory.
package loadbench

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/mxreplace/mx/examples/testpattern"
)

// Server is one of the compared servers. Publish and Serve may be called
// concurrently.
type Server interface {
	// Publish makes body the latest frame, published at t.
	Publish(body []byte, t time.Time)
	// Serve serves the stream at /stream on l until Close.
	Serve(l net.Listener) error
	// Close stops serving and closes every connection.
	Close() error
}

// Names lists the servers New knows.
var Names = []string{"mx", "gin", "tcp", "idle"}

// Options are the servers' options.
type Options struct {
	// Chunked makes the mx server keep HTTP/1.1 chunked encoding
	// (core.Options.Chunked).
	Chunked bool
}

// New returns the server called name.
func New(name string, opts *Options) (Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch name {
	case "mx":
		return newMX(o.Chunked), nil
	case "gin":
		return newGin(), nil
	case "tcp":
		return newTCP(), nil
	case "idle":
		return newIdle(), nil
	}
	return nil, fmt.Errorf("loadbench: unknown server %q (want mx, gin, tcp or idle)", name)
}

// Timestamp formats t as an X-Timestamp value: Unix seconds with six
// decimals, as core.Broadcaster writes it.
func Timestamp(t time.Time) string {
	us := t.UnixMicro()
	frac := strconv.FormatInt(us%1e6, 10)
	return strconv.FormatInt(us/1e6, 10) + "." + "000000"[len(frac):] + frac
}

// Frames pre-encodes n distinct test-pattern frames (frame numbers 0 to
// n-1, no clock) of w x h pixels at the given JPEG quality, so that the
// servers share the same bytes and no encoding is measured.
func Frames(w, h, quality, n int) ([][]byte, error) {
	p := testpattern.Pattern{Width: w, Height: h}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	e := testpattern.NewEncoder(p, quality)
	frames := make([][]byte, n)
	for i := range frames {
		b, err := e.Encode(uint64(i), time.Time{})
		if err != nil {
			return nil, err
		}
		frames[i] = b
	}
	return frames, nil
}

// Play publishes frames to s in a loop at fps frames per second until ctx
// is done. fps <= 0 publishes nothing. Ticks are dropped, not queued, when
// the publisher falls behind.
func Play(ctx context.Context, s Server, frames [][]byte, fps float64) {
	if fps <= 0 || len(frames) == 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(time.Duration(float64(time.Second) / fps))
	defer t.Stop()
	for i := 0; ; i++ {
		s.Publish(frames[i%len(frames)], time.Now())
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
