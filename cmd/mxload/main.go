// Mxload puts a multipart/x-mixed-replace (MJPEG) stream under load, to size
// a server: it opens many viewers at once and measures what each of them
// gets.
//
// Usage:
//
//	go run ./cmd/mxload -url http://127.0.0.1:8080/stream -n 1000 -d 30s [-ramp 5s] [-warmup 3s] [-json]
//	go run ./cmd/mxload -url https://127.0.0.1:8443/stream -h2 -h2-streams 100 -n 1000
//
// Each viewer is an HTTP/1.1 GET on its own connection, read as the -client
// profile says:
//
//   - raw (default): 64 KiB reads (-buf) straight off the connection, the
//     lightest viewer;
//   - nethttp: Go's net/http client as most consumers and relays use it, a
//     transport like http.DefaultTransport shared by all viewers and the
//     body read through core.ReadResponse (4 KiB reads, each part
//     allocated);
//   - small: 2 KiB reads, as a browser's network stack reads a stream.
//
// -read caps the size of each read for any profile. With -h2 the viewers
// speak HTTP/2 over TLS (the URL must be https; the certificate is not
// verified), -h2-streams of them (default 100) on each connection, as the
// tiles of a page share one; a viewer that gets HTTP/1.1 counts an error.
//
// The viewers start
// evenly over -ramp, so that the server's accept queue is not flooded, then
// run through -warmup, then through the measured window of -d. Mxload raises
// its soft limit on open files to the hard limit; one viewer takes one file.
// A viewer that loses its stream counts a disconnect and reconnects after a
// second.
//
// The results, over the window:
//
//   - frames per second per viewer (min, median, max): distinct frames
//     received per second;
//   - the share of frames each viewer received (min, median, max): its
//     distinct frames divided by the distinct frames received by any viewer,
//     which is the frames published, unless every viewer missed one;
//   - publish-to-receipt latency (p50, p99, max): from the part's
//     X-Timestamp header (Unix seconds with microseconds, taken at publish, as
//     mx's Broadcaster with Timestamps, ustreamer and mjpg-streamer send it)
//     to the arrival of the delimiter that completes the part (from a server
//     that writes that delimiter only when the next part starts, as
//     mime/multipart.Writer does, this includes the wait for the next frame);
//   - bytes per second over all viewers, errors and disconnects.
//
// Frames are assigned to the window by their X-Timestamp, and viewers keep
// reading for a second after it (-grace) to receive the last ones, so
// latency and share need the server's clock to agree with this host's: run
// mxload on the server's host or on a synchronized clock. A stream without
// X-Timestamp gets frames per second and bytes only.
//
// While it runs, mxload prints a status line every second on stderr:
// elapsed time, phase, viewers connected, frames per second over all viewers,
// MB/s, the p99 latency so far and the number of errors. It exits with status
// 1 if no viewer could connect.
//
// Mxload is meant to share a machine with the server it measures: with the
// fast parser (raw and small) a viewer reads into one fixed buffer, skips
// bodies by their Content-Length without copying them out, and allocates
// nothing per part; latencies go into a fixed-size histogram. With -parser
// core (the nethttp default) it uses core.ReadResponse instead, which
// allocates each part's header and body, as its users do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `Usage: mxload [flags]

Opens many viewers of a multipart/x-mixed-replace stream and reports frames
per second per viewer, the share of frames each received, publish-to-receipt
latency (from the X-Timestamp part header), bytes per second and errors.

Flags:
  -url URL       the stream (default http://127.0.0.1:8080/stream)
  -n N           viewers, each on its own HTTP/1.1 connection (default 100)
  -client NAME   how viewers read: raw (default: 64 KiB reads), nethttp
                 (net/http's default transport and core.ReadResponse) or
                 small (2 KiB reads, as browsers)
  -read BYTES    largest read of the body (default: the client's)
  -h2            HTTP/2 over TLS (https URL, certificate not verified)
  -h2-streams N  viewers per HTTP/2 connection (default 100)
  -d DURATION    the measured window (default 10s)
  -ramp DURATION start the viewers evenly over this time
                 (default 1ms per viewer, at least 1s)
  -warmup DURATION
                 time after the ramp excluded from the results (default 2s)
  -grace DURATION
                 time after the window to receive its last frames (default 1s)
  -json          print the result as JSON on stdout
  -parser NAME   fast (no allocation per part) or core (core.ReadResponse);
                 default: the client's (nethttp: core, others: fast)
  -buf BYTES     read buffer per viewer (default 65536)
  -q             no status line on stderr

Example:
  go run ./cmd/mxload -url http://127.0.0.1:8080/stream -n 1000 -d 30s -ramp 5s
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mxload:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mxload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var cfg Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/stream", "")
	fs.IntVar(&cfg.Viewers, "n", 100, "")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "")
	fs.DurationVar(&cfg.Ramp, "ramp", -1, "")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "")
	fs.DurationVar(&cfg.Grace, "grace", time.Second, "")
	fs.StringVar(&cfg.Client, "client", ClientRaw, "")
	fs.StringVar(&cfg.Parser, "parser", "", "")
	fs.IntVar(&cfg.BufSize, "buf", 64<<10, "")
	fs.IntVar(&cfg.ReadSize, "read", 0, "")
	fs.BoolVar(&cfg.H2, "h2", false, "")
	fs.IntVar(&cfg.H2Streams, "h2-streams", DefaultH2Streams, "")
	asJSON := fs.Bool("json", false, "")
	quiet := fs.Bool("q", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if cfg.Ramp < 0 {
		cfg.Ramp = max(time.Second, time.Duration(cfg.Viewers)*time.Millisecond)
	}
	if cfg.BufSize < 4096 {
		return usageError{errors.New("-buf must be at least 4096")}
	}
	if cfg.ReadSize < 0 || cfg.H2Streams < 1 {
		return usageError{errors.New("-read must not be negative, -h2-streams must be positive")}
	}
	if lim, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "mxload: cannot raise the open files limit:", err)
	} else if lim > 0 && uint64(cfg.Viewers)+64 > lim {
		fmt.Fprintf(stderr, "mxload: warning: %d viewers but the open files limit is %d (raise the hard limit: ulimit -Hn)\n", cfg.Viewers, lim)
	}
	if !*quiet {
		cfg.Progress = stderr
		if f, ok := stderr.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				cfg.ProgressTTY = true
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printResult(stdout, res, cfg)
	return nil
}

func printResult(w io.Writer, r *Result, cfg Config) {
	fmt.Fprintf(w, "mxload: %s, %d viewers, window %.1fs (after %s ramp + %s warmup)\n",
		r.URL, r.Viewers, r.WindowSec, cfg.Ramp, cfg.Warmup)
	perFrame := 0.0
	if r.Parts > 0 {
		perFrame = float64(r.Bytes) / float64(r.Parts)
	}
	fmt.Fprintf(w, "stream:      %.2f fps published (%d frames in the window), %.1f KB per part\n",
		r.PublishFPS, r.Frames, perFrame/1e3)
	proto := "HTTP/1.1"
	if r.H2 {
		proto = fmt.Sprintf("HTTP/2, %d streams per connection", r.H2Streams)
	}
	fmt.Fprintf(w, "client:      %s (%s parser, reads of at most %d bytes), %s, %d connections opened\n",
		r.Client, r.Parser, r.ReadSize, proto, r.Dials)
	fmt.Fprintf(w, "viewers:     %d connected (%d at the window's start, %d at its end), %d errors, %d disconnects\n",
		r.Connected, r.ConnectedAtStart, r.ConnectedAtEnd, r.Errors, r.Disconnects)
	for msg, n := range r.ErrorCounts {
		fmt.Fprintf(w, "             %6d x %s\n", n, msg)
	}
	fmt.Fprintf(w, "fps/viewer:  min %.2f  median %.2f  max %.2f\n", r.FPS.Min, r.FPS.Median, r.FPS.Max)
	if !r.Timestamps {
		fmt.Fprintln(w, "no X-Timestamp on the parts: no share, no latency; frames counted by receipt time")
	} else {
		fmt.Fprintf(w, "share:       min %.1f%%  median %.1f%%  max %.1f%%\n",
			100*r.Share.Min, 100*r.Share.Median, 100*r.Share.Max)
		fmt.Fprintf(w, "latency:     p50 %.2fms  p99 %.2fms  max %.2fms  (%d frames)\n",
			r.LatencyP50, r.LatencyP99, r.LatencyMax, r.LatencySamples)
		if r.NegativeLatency > 0 {
			fmt.Fprintf(w, "warning:     %d frames arrived before their X-Timestamp: the server's clock is ahead of this host's\n", r.NegativeLatency)
		}
	}
	fmt.Fprintf(w, "throughput:  %.1f MB/s, %.0f parts/s over all viewers\n",
		r.BytesPerSec/1e6, float64(r.Parts)/r.WindowSec)
}
