// Command cluster serves one live camera from many replicas through NATS.
// An origin publishes each frame to a NATS subject (natsmx.Origin); each
// edge serves that subject to its own viewers (natsmx.Edge), and holds a
// subscription only while someone watches.
//
//	go run ./examples/cluster            # embedded NATS, one origin, 2 edges
//	go run ./examples/cluster -role origin -nats nats://n1:4222,nats://n2:4222 -addr :8080
//	go run ./examples/cluster -role edge -nats nats://n1:4222,nats://n2:4222 -addr :8081
//
// Every listener (edge or origin) serves GET / (a page with the stream in
// core's self-healing <mx-stream> element, showing each frame's age),
// /stream (image/jpeg parts with X-Timestamp, taken at the origin's
// publish) and /snapshot, and the program prints one line with its URL.
// Flags: -role all|origin|edge, -nats URLS (none: an embedded server, on
// port 4222 for -role origin, where -role edge looks by default),
// -subject, -addr (with -role all the first edge's; the next edges and the
// origin take the following ports), -edges N, -fps, -size WxH, -dir DIR.
// SIGINT or SIGTERM ends every stream cleanly and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/natsmx"
)

func main() {
	role := flag.String("role", "all", "all, origin or edge")
	urls := flag.String("nats", "", "comma-separated NATS `URLs` (default: an embedded NATS server)")
	subject := flag.String("subject", "mx.camera", "NATS `subject` of the stream")
	addr := flag.String("addr", ":8080", "HTTP `host:port` (-role all: the first edge's; the others follow)")
	edges := flag.Int("edges", 2, "edges with -role all")
	fps := flag.Float64("fps", 10, "frames per second (fractions such as 0.5 allowed)")
	size := flag.String("size", "640x480", "test pattern size `WxH`")
	dir := flag.String("dir", "", "play the JPEG files of `DIR` in name order, in a loop")
	flag.Parse()
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || *fps <= 0 || *fps > 1000 || *edges < 1 ||
		*role != "all" && *role != "origin" && *role != "edge" {
		fmt.Fprintln(os.Stderr, "cluster: want -role all|origin|edge, -size WxH, 0 < -fps <= 1000, -edges >= 1")
		os.Exit(2)
	}
	if err := run(*role, *urls, *subject, *addr, *edges, *fps, *dir, w, h); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(role, urls, subject, addr string, edges int, fps float64, dir string, w, h int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if urls == "" && role == "edge" {
		urls = nats.DefaultURL // where an origin without -nats has its server
	}
	if urls == "" { // an embedded NATS server, in this process
		port := -1 // any free port
		if role == "origin" {
			port = nats.DefaultPort // for edges started on their own
		}
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
		if err != nil {
			return err
		}
		ns.Start()
		defer ns.Shutdown()
		if !ns.ReadyForConnections(5 * time.Second) {
			return errors.New("embedded NATS server did not start")
		}
		urls = ns.ClientURL()
		fmt.Println("mx cluster: NATS server at", urls)
	}
	connect := func() (*nats.Conn, error) { // keeps trying every node of the cluster, forever
		return nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	}
	var sites []site
	for i := range edges {
		if role == "origin" || role == "edge" && i > 0 {
			break
		}
		nc, err := connect()
		if err != nil {
			return err
		}
		defer nc.Close()
		e, err := natsmx.NewEdge(nc, subject, &natsmx.EdgeOptions{IdleRepeat: time.Second})
		if err != nil {
			return err
		}
		sites = append(sites, newSite(fmt.Sprintf("edge %d", i+1), subject, e.Subscribe, e.SnapshotHandler(), e.Shutdown))
	}
	if role != "edge" {
		nc, err := connect()
		if err != nil {
			return err
		}
		defer nc.Close()
		frame, err := frames(dir, w, h)
		if err != nil {
			return err
		}
		cam := &core.Broadcaster{Timestamps: true, IdleRepeat: time.Second}
		o, err := natsmx.NewOrigin(nc, subject, cam, nil)
		if err != nil {
			return err
		}
		pctx, stopProducing := context.WithCancel(context.Background())
		produced := make(chan struct{})
		go func() { produce(pctx, o, frame, fps); close(produced) }()
		end := func(ctx context.Context) error { stopProducing(); <-produced; return o.Shutdown(ctx) }
		sites = append(sites, newSite("origin", subject, cam.Subscribe, cam.SnapshotHandler(), end))
	}

	// Listen, print the URLs, and serve until a signal.
	serveCtx, stopServing := context.WithCancel(context.Background())
	served := make(chan error, len(sites))
	for i, s := range sites {
		ln, err := net.Listen("tcp", nextAddr(addr, i))
		if err != nil {
			stopServing()
			return err
		}
		fmt.Printf("mx cluster (%s) listening on %s\n", s.name, pageURL(ln.Addr()))
		go func() { served <- core.Run(serveCtx, core.NewServer("", s.mux), ln) }()
	}
	<-ctx.Done() // signals that come during the shutdown below change nothing
	// End every stream with its last part, then stop the servers: Run
	// closes what is still open after a grace period (viewers that stopped
	// reading).
	endCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range sites {
		s.end(endCtx)
	}
	stopServing()
	var err error
	for range sites {
		err = errors.Join(err, <-served)
	}
	return err
}
