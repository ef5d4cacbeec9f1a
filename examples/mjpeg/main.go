// Command mjpeg is a live test-pattern camera on echo: one
// core.Broadcaster fed by a producer goroutine, any number of viewers.
//
//	go run ./examples/mjpeg [-addr :8080] [-fps 10] [-size 640x480] [-quality 75]
//	                        [-dir DIR] [-user U -pass P] [-allow-origin ORIGIN]
//
// Routes:
//
//	GET /          a page showing the stream in an <img>, with a few facts and links
//	GET /stream    the MJPEG stream: image/jpeg parts with Content-Length and
//	               X-Timestamp (Unix seconds with microseconds, taken at publish)
//	GET /snapshot  the latest frame as one image/jpeg
//
// The test pattern shows the frame number (counting from 1) in big digits
// and in a machine-readable strip along the bottom, so a screenshot tells
// which frame a browser shows. -dir DIR plays the *.jpg and *.jpeg files of
// DIR instead, read once at start, in name order, in a loop, byte for byte.
// -fps takes fractions: -fps 0.5 is a frame every 2 s (the default, 10, is
// smooth enough to watch and cheap to encode). A frame is repeated after
// 1 s without a new one.
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
	cfg := config{Width: defaultWidth, Height: defaultHeight}
	fs := flag.NewFlagSet("mjpeg", flag.ContinueOnError)
	fs.SetOutput(output)
	liveapp.RegisterAddr(fs, &cfg.Addr)
	fs.Float64Var(&cfg.FPS, "fps", defaultFPS, "frames per second; fractions allowed (0.5: a frame every 2 s)")
	fs.Var(sizeFlag{&cfg.Width, &cfg.Height}, "size", "test pattern size `WxH`")
	fs.IntVar(&cfg.Quality, "quality", defaultQuality, "JPEG `quality` of the test pattern, 1-100")
	fs.StringVar(&cfg.Dir, "dir", "", "play the *.jpg and *.jpeg files of `DIR` in name order, in a loop, as they are, instead of the test pattern")
	cfg.Access.RegisterFlags(fs)
	err := liveapp.Parse(fs, args, cfg.validate)
	return cfg, err
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err == nil {
		h, cam, stop, nerr := newApp(cfg)
		if err = nerr; err == nil {
			err = liveapp.Run("mjpeg", cfg.Addr, h, cam, stop)
		}
	}
	liveapp.Exit("mjpeg", err)
}
