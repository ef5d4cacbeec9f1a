package natsmx_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxreplace/mx/internal/mxtest"
)

// The load test's setup: 3 edges x 300 viewers of a 30 fps 640x480 stream
// (about 19 KB per frame), and as a baseline 3 local Broadcasters serving
// 300 viewers each. MX_NATS_BENCH_VIEWERS, MX_NATS_BENCH_WINDOW (a
// duration) and MX_NATS_BENCH_ROUNDS (default 2: edge, local, local, edge)
// change the viewers per server, the measured window and the runs.
const (
	loadEdges  = 3
	loadFPS    = 30
	loadFrame  = 19 << 10
	loadWarmup = 3 * time.Second
)

var (
	loadViewers = envInt("MX_NATS_BENCH_VIEWERS", 300)
	loadWindow  = envDuration("MX_NATS_BENCH_WINDOW", 20*time.Second)
	loadRounds  = envInt("MX_NATS_BENCH_ROUNDS", 2)
)

// median returns the median of xs (not empty); it sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// TestClusterLoad measures an origin, 3 edges and a NATS server, each its
// own process, with cmd/mxload as the viewers (one process per edge), and
// 3 local Broadcasters (examples/cluster -role origin) under the same load
// right after. It runs only with MX_NATS_BENCH=1:
//
//	MX_NATS_BENCH=1 go test -run TestClusterLoad -v ./natsmx/
func TestClusterLoad(t *testing.T) {
	if os.Getenv("MX_NATS_BENCH") != "1" {
		t.Skip("set MX_NATS_BENCH=1 to run the load test")
	}
	bin := t.TempDir()
	for _, pkg := range []string{"github.com/nats-io/nats-server/v2", "../examples/cluster", "../cmd/mxload"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	dir := t.TempDir()
	size := writeFrames(t, dir, 30)
	port := freePort(t)
	nats := "nats://127.0.0.1:" + strconv.Itoa(port)
	server := startProc(t, 0, filepath.Join(bin, "nats-server"), "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	mxtest.Eventually(t, 10*time.Second, "nats-server", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	cluster := filepath.Join(bin, "cluster")
	fps := strconv.Itoa(loadFPS)
	origin := startProc(t, 1, cluster, "-role", "origin", "-nats", nats, "-addr", "127.0.0.1:0", "-fps", fps, "-dir", dir)
	var edges, bases []*loadProc
	for i := range loadEdges {
		edges = append(edges, startProc(t, 1, cluster, "-role", "edge", "-nats", nats, "-addr", "127.0.0.1:0"))
		bases = append(bases, startProc(t, 1, cluster, "-role", "origin", "-nats", nats, "-addr", "127.0.0.1:0",
			"-fps", fps, "-dir", dir, "-subject", fmt.Sprintf("mx.base%d", i)))
	}
	t.Logf("frames: 640x480 JPEG, %d bytes on average; %d fps; %d viewers per server; window %v", size, loadFPS, loadViewers, loadWindow)

	run := func(name string, servers []*loadProc, others ...*loadProc) (results []loadResult, cpu []float64, otherCPU []float64) {
		results = make([]loadResult, len(servers))
		var wg sync.WaitGroup
		ramp := time.Duration(loadViewers) * 10 * time.Millisecond
		for i, s := range servers {
			wg.Go(func() {
				results[i] = mxload(t, filepath.Join(bin, "mxload"), s.urls[0]+"stream", ramp)
			})
		}
		time.Sleep(ramp + loadWarmup)
		before := make([]float64, len(servers)+len(others))
		for i, p := range append(append([]*loadProc{}, servers...), others...) {
			before[i] = p.cpu()
		}
		time.Sleep(loadWindow)
		for i, p := range append(append([]*loadProc{}, servers...), others...) {
			d := p.cpu() - before[i]
			if i < len(servers) {
				cpu = append(cpu, d)
			} else {
				otherCPU = append(otherCPU, d)
			}
		}
		wg.Wait()
		for i, r := range results {
			t.Logf("%s %d: %d viewers, share min %.1f%% median %.1f%%, fps min %.2f, latency p50 %.2f ms p99 %.2f ms, %d errors, %d disconnects; server CPU %.2f s = %.1f µs per delivered frame",
				name, i+1, r.Connected, 100*r.Share.Min, 100*r.Share.Median, r.FPS.Min, r.LatencyP50, r.LatencyP99, r.Errors, r.Disconnects,
				cpu[i], 1e6*cpu[i]/float64(r.Delivered)*r.WindowSec/loadWindow.Seconds())
		}
		return results, cpu, otherCPU
	}

	perFrame := func(res []loadResult, cpu []float64) float64 {
		var c, f float64
		for i, r := range res {
			c += cpu[i]
			f += float64(r.Delivered) * loadWindow.Seconds() / r.WindowSec
		}
		return 1e6 * c / f
	}
	// The runs alternate, edge-local-local-edge and so on, so that neither
	// side always runs first; the figures are medians over the runs.
	var edgeFrame, baseFrame, originCPU, serverCPU []float64
	var all []loadResult
	for i := range loadRounds {
		for j, side := range []string{"edge", "local"} {
			if i%2 == 1 {
				side = []string{"local", "edge"}[j]
			}
			if side == "edge" {
				res, cpu, other := run("edge", edges, origin, server)
				edgeFrame = append(edgeFrame, perFrame(res, cpu))
				originCPU = append(originCPU, other[0])
				serverCPU = append(serverCPU, other[1])
				all = append(all, res...)
			} else {
				res, cpu, _ := run("local", bases)
				baseFrame = append(baseFrame, perFrame(res, cpu))
				all = append(all, res...)
			}
		}
	}
	e, b := median(edgeFrame), median(baseFrame)
	t.Logf("CPU per delivered frame (median of %d runs each): edge %.2f µs %.2f, local Broadcaster %.2f µs %.2f: %.2fx",
		loadRounds, e, edgeFrame, b, baseFrame, e/b)
	t.Logf("origin CPU %.1f%% of a core, nats-server CPU %.1f%% of a core (medians over the edge windows)",
		100*median(originCPU)/loadWindow.Seconds(), 100*median(serverCPU)/loadWindow.Seconds())
	for i, r := range all {
		if r.Share.Min < 0.99 || r.Connected < loadViewers {
			t.Errorf("run %d: %d viewers connected, share min %.1f%%, want all and >= 99%%", i+1, r.Connected, 100*r.Share.Min)
		}
	}
	if e > 1.1*b {
		t.Errorf("edge CPU per delivered frame %.2fx a local Broadcaster's, want within 1.1x", e/b)
	}
}

// writeFrames writes n 640x480 JPEG frames of about loadFrame bytes each
// into dir, and returns their average size.
func writeFrames(t *testing.T, dir string, n int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	total := 0
	for i := range n {
		for y := range 480 {
			for x := range 640 {
				v := uint8((x+y+i*8)/5) + uint8(rng.IntN(24))
				img.Set(x, y, color.RGBA{v, v / 2, 255 - v, 255})
			}
		}
		var buf bytes.Buffer
		for q := 95; q > 5; q -= 5 { // the best quality that fits loadFrame
			buf.Reset()
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
				t.Fatal(err)
			}
			if buf.Len() <= loadFrame {
				break
			}
		}
		total += buf.Len()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.jpg", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return total / n
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// loadProc is a process of the load test.
type loadProc struct {
	cmd  *exec.Cmd
	urls []string
}

var loadURL = regexp.MustCompile(`listening on (http://\S+)`)

// startProc starts a process and waits for urls URL lines on its stdout;
// it is ended with SIGTERM at the end of the test.
func startProc(t *testing.T, urls int, name string, args ...string) *loadProc {
	t.Helper()
	p := &loadProc{cmd: exec.Command(name, args...)}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if urls > 0 { // ours; the NATS server's log stays out
		p.cmd.Stderr = os.Stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	for len(p.urls) < urls && sc.Scan() {
		if m := loadURL.FindStringSubmatch(sc.Text()); m != nil {
			p.urls = append(p.urls, m[1])
		}
	}
	if len(p.urls) < urls {
		t.Fatalf("%s %v printed no URL", name, args)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return p
}

// cpu returns the process's CPU time (user and system) in seconds so far.
func (p *loadProc) cpu() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

// loadResult is the part of cmd/mxload's JSON result the test reads.
type loadResult struct {
	Connected   int                           `json:"connected"`
	WindowSec   float64                       `json:"window_sec"`
	Frames      int                           `json:"frames"`
	Delivered   int64                         `json:"delivered"`
	LatencyP50  float64                       `json:"latency_p50_ms"`
	LatencyP99  float64                       `json:"latency_p99_ms"`
	Errors      int                           `json:"errors"`
	Disconnects int                           `json:"disconnects"`
	FPS         struct{ Min float64 }         `json:"fps"`
	Share       struct{ Min, Median float64 } `json:"share"`
}

// mxload runs cmd/mxload against url with loadViewers viewers.
func mxload(t *testing.T, bin, url string, ramp time.Duration) loadResult {
	out, err := exec.Command(bin, "-url", url, "-n", strconv.Itoa(loadViewers), "-ramp", ramp.String(),
		"-warmup", loadWarmup.String(), "-d", loadWindow.String(), "-json", "-q").Output()
	var r loadResult
	if err == nil {
		err = json.Unmarshal(out, &r)
	}
	if err != nil {
		t.Errorf("mxload %s: %v", url, err)
	}
	return r
}
