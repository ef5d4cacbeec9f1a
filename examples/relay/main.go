// Command relay re-serves one upstream MJPEG stream to any number of
// viewers, on gin, over ONE upstream connection.
//
//	go run ./examples/relay -upstream URL [-addr :8080] [-timeout 10s]
//	                        [-user U -pass P] [-allow-origin ORIGIN]
//
// Each part of the upstream stream (any multipart/x-mixed-replace stream,
// such as an IP camera's or examples/mjpeg's /stream) is published to a
// core.Broadcaster, which serves:
//
//	GET /          a page showing the stream in an <img>, with a few facts and links
//	GET /stream    the stream: the upstream's parts, byte for byte, with their
//	               Content-Type, Content-Length and the relay's X-Timestamp
//	GET /snapshot  the latest part as one response
//
// A part equal to the one before (an upstream's own idle repeat) is not
// published again: the relay repeats the last part itself after 1 s
// without a new one. The upstream connection is kept open whether anyone
// watches or not, so /snapshot always has a recent frame; -timeout must be
// longer than the upstream's longest pause between parts.
//
// When the upstream fails, ends, or sends nothing for -timeout, the relay
// reconnects with exponential backoff (250 ms doubling to 10 s, back to
// 250 ms once a part arrives), logging each failure once; viewers stay
// connected and get the last frame again every second meanwhile.
//
// With -user and -pass every route needs HTTP Basic auth; -allow-origin
// adds CORS headers for one origin (or "*"). The app prints its URL once
// listening and shuts down gracefully on SIGINT or SIGTERM: open streams end
// cleanly (with the close delimiter) and the process exits 0.
package main

import (
	"flag"
	"io"
	"os"

	"github.com/mxreplace/mx/internal/liveapp"
)

// parseFlags parses the command line (without the program name); errors
// are *liveapp.FlagError.
func parseFlags(args []string, output io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(output)
	liveapp.RegisterAddr(fs, &cfg.Addr)
	fs.StringVar(&cfg.Upstream, "upstream", "", "the stream to relay, an http(s) `URL` such as http://camera:8080/stream (required)")
	fs.DurationVar(&cfg.Timeout, "timeout", defaultTimeout, "reconnect when the upstream takes longer than this to connect, answer or send the next part")
	cfg.Access.RegisterFlags(fs)
	err := liveapp.Parse(fs, args, cfg.validate)
	return cfg, err
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err == nil {
		h, cam, stop, nerr := newApp(cfg)
		if err = nerr; err == nil {
			err = liveapp.Run("relay", cfg.Addr, h, cam, stop)
		}
	}
	liveapp.Exit("relay", err)
}
