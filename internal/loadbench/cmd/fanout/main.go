// Fanout serves one of the fan-out comparison's servers (see package
// loadbench) with a test-pattern camera, for cmd/mxload to measure.
//
// Usage:
//
//	go run ./internal/loadbench/cmd/fanout -server mx|gin|tcp|idle [-addr 127.0.0.1:0] [-fps 30] [-size 640x480] [-tls]
//
// With -tls it serves HTTPS, offering HTTP/2 and HTTP/1.1, with a
// self-signed certificate made at start (the tcp server has no TLS).
//
// It pre-encodes -frames distinct JPEG frames at start and publishes them in
// a loop at -fps (0: never), so that no encoding is measured. Once
// listening it prints "listening on http://ADDR/stream" on stdout. It stops
// on SIGINT or SIGTERM, writing the -cpuprofile if asked.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/mxreplace/mx/examples/devcert"
	"github.com/mxreplace/mx/internal/loadbench"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("fanout: ")
	server := flag.String("server", "mx", "server: mx, gin, tcp or idle")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	fps := flag.Float64("fps", 30, "frames per second (0: publish nothing)")
	size := flag.String("size", "640x480", "frame size WxH")
	quality := flag.Int("quality", 75, "JPEG quality")
	nframes := flag.Int("frames", 30, "distinct frames to pre-encode and loop over")
	chunked := flag.Bool("chunked", false, "mx: keep HTTP/1.1 chunked encoding")
	useTLS := flag.Bool("tls", false, "serve HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to `file`")
	flag.Parse()
	if *useTLS && *server == "tcp" {
		log.Fatal("-tls: the tcp server has no TLS")
	}

	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		log.Fatalf("-size %q: want WxH", *size)
	}
	frames, err := loadbench.Frames(w, h, *quality, max(*nframes, 1))
	if err != nil {
		log.Fatal(err)
	}
	s, err := loadbench.New(*server, &loadbench.Options{Chunked: *chunked})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	scheme := "http"
	if *useTLS {
		cfg, _, err := devcert.Config("", "")
		if err != nil {
			log.Fatal(err)
		}
		l, scheme = tls.NewListener(l, cfg), "https"
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	go loadbench.Play(ctx, s, frames, *fps)
	fmt.Printf("listening on %s://%s/stream (server %s, %g fps, %dx%d, %d frames of %d bytes on average)\n",
		scheme, l.Addr(), *server, *fps, w, h, len(frames), avg(frames))
	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Print(err)
	}
	s.Close()
}

func avg(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n / len(frames)
}
