package loadbench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const fanoutSkip = `fan-out comparison skipped: it runs each server as a process under cmd/mxload for minutes; run it with
  MX_LOAD=1 go test -run TestFanoutComparison -v -timeout 60m ./internal/loadbench/
options (environment): MX_LOAD_CONFIGS="1000x30,100x30" (viewers x fps), MX_LOAD_SERVERS="tcp,mx,gin,mx-h2",
  MX_LOAD_CLIENTS="raw" (mxload -client profiles: raw, nethttp, small; "nethttp -parser fast" adds flags), MX_LOAD_H2_STREAMS=100 (viewers per
  HTTP/2 connection), MX_LOAD_D=20s, MX_LOAD_WARMUP=3s, MX_LOAD_REPEAT=5, MX_LOAD_IDLE=10000 (0: no idle test),
  MX_LOAD_IDLE_SERVERS="idle,mx", MX_LOAD_IDLE_FPS=0 (frames per second published to the idle viewers), MX_LOAD_PROFILE=DIR (CPU profiles of the servers),
  MX_LOAD_MXLOAD_ARGS="-read 1024"; a server NAME@PATH runs NAME from the fanout binary at PATH (a patched build);
  NAME-h2 is NAME over HTTP/2 with TLS (fanout -tls, mxload -h2), NAME-tls NAME over HTTP/1.1 with TLS`

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// TestFanoutComparison measures the servers of this package under cmd/mxload,
// each in its own process, and prints a table per configuration and client
// profile, then the medians over MX_LOAD_REPEAT runs. The servers take turns
// in a different order in each run. It only runs with MX_LOAD set.
func TestFanoutComparison(t *testing.T) {
	if os.Getenv("MX_LOAD") == "" {
		t.Skip(fanoutSkip)
	}
	d, err := time.ParseDuration(env("MX_LOAD_D", "20s"))
	if err != nil {
		t.Fatal(err)
	}
	warmup, err := time.ParseDuration(env("MX_LOAD_WARMUP", "3s"))
	if err != nil {
		t.Fatal(err)
	}
	h2Streams, err := strconv.Atoi(env("MX_LOAD_H2_STREAMS", "100"))
	if err != nil || h2Streams < 1 {
		t.Fatalf("MX_LOAD_H2_STREAMS: want a positive number")
	}
	bin := t.TempDir()
	for _, pkg := range []string{"github.com/mxreplace/mx/cmd/mxload", "github.com/mxreplace/mx/internal/loadbench/cmd/fanout"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	b := &bench{t: t, bin: bin, warmup: warmup, profile: os.Getenv("MX_LOAD_PROFILE"),
		mxloadArgs: strings.Fields(os.Getenv("MX_LOAD_MXLOAD_ARGS")), h2Streams: h2Streams}
	fmt.Printf("machine: %d CPUs, load average before: %s\n", numCPU(), loadavg())
	repeat, _ := strconv.Atoi(env("MX_LOAD_REPEAT", "5"))
	repeat = max(repeat, 1)
	runs := map[string][][]row{} // client and config -> runs -> rows
	var keys []string
	for i := range repeat {
		if repeat > 1 {
			fmt.Printf("\n=== run %d of %d\n", i+1, repeat)
		}
		b.runIndex = i
		for _, client := range list(env("MX_LOAD_CLIENTS", "raw")) {
			for _, tab := range b.fanout(client, d, warmup) {
				k := fmt.Sprintf("client %s, %d viewers x %g fps", client, tab[0].viewers, tab[0].fps)
				if runs[k] == nil {
					keys = append(keys, k)
				}
				runs[k] = append(runs[k], tab)
			}
		}
	}
	if repeat > 1 {
		for _, k := range keys {
			fmt.Printf("\n%s: medians of %d runs (ratios: median of the per-run ratios)\n", k, len(runs[k]))
			printSummary(os.Stdout, runs[k])
		}
		fmt.Println()
	}
	if n, _ := strconv.Atoi(env("MX_LOAD_IDLE", "10000")); n > 0 {
		fps, err := strconv.ParseFloat(env("MX_LOAD_IDLE_FPS", "0"), 64)
		if err != nil || fps < 0 {
			t.Fatalf("MX_LOAD_IDLE_FPS: want a number of frames per second, 0 or more")
		}
		var rows []row
		for _, s := range list(env("MX_LOAD_IDLE_SERVERS", "idle,mx")) {
			rows = append(rows, b.run(s, "raw", n, fps, 5*time.Second))
		}
		what := "no frames published"
		if fps > 0 {
			what = fmt.Sprintf("%g fps", fps)
		}
		fmt.Printf("\n%d idle viewers (%s), window 5s after %s ramp + %s warmup\n", n, what, ramp(n), warmup)
		printIdle(os.Stdout, rows)
		fmt.Println()
	}
}

// list splits a comma-separated list, dropping empty items.
func list(s string) []string {
	var l []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l = append(l, v)
		}
	}
	return l
}

// fanout runs every configuration of MX_LOAD_CONFIGS over MX_LOAD_SERVERS
// with the client profile, and returns a table of rows per configuration,
// in MX_LOAD_SERVERS order. The servers start from a different one in each
// run (b.runIndex), so that none always runs first.
func (b *bench) fanout(client string, d, warmup time.Duration) [][]row {
	t := b.t
	servers := list(env("MX_LOAD_SERVERS", "tcp,mx,gin,mx-h2"))
	var tabs [][]row
	for _, c := range list(env("MX_LOAD_CONFIGS", "1000x30,100x30")) {
		var n int
		var fps float64
		if _, err := fmt.Sscanf(c, "%dx%g", &n, &fps); err != nil {
			t.Fatalf("MX_LOAD_CONFIGS: %q: want VIEWERSxFPS", c)
		}
		rows := make([]row, len(servers))
		for k := range servers {
			i := (k + b.runIndex) % len(servers)
			rows[i] = b.run(servers[i], client, n, fps, d)
			fmt.Printf("  done: %s %dx%g client %s (load average %s)\n", rows[i].server, n, fps, client, loadavg())
		}
		fmt.Printf("\nclient %s, %d viewers x %g fps, 640x480, window %s after %s ramp + %s warmup\n", client, n, fps, d, ramp(n), warmup)
		printFanout(os.Stdout, rows)
		fmt.Println()
		tabs = append(tabs, rows)
	}
	return tabs
}

type bench struct {
	t          *testing.T
	bin        string
	warmup     time.Duration
	profile    string
	mxloadArgs []string
	h2Streams  int // viewers per HTTP/2 connection
	runIndex   int // the run under way, from 0
}

// mxloadResult is the part of cmd/mxload's JSON result used here.
type mxloadResult struct {
	Connected        int   `json:"connected"`
	ConnectedAtStart int   `json:"connected_at_start"`
	WindowStart      int64 `json:"window_start_unix_nano"`
	WindowEnd        int64 `json:"window_end_unix_nano"`
	Frames           int   `json:"frames"`
	Delivered        int64 `json:"delivered"`
	FPS              struct {
		Median float64 `json:"median"`
	} `json:"fps"`
	Share struct {
		Min    float64 `json:"min"`
		Median float64 `json:"median"`
	} `json:"share"`
	PublishFPS  float64 `json:"publish_fps"`
	LatencyP50  float64 `json:"latency_p50_ms"`
	LatencyP99  float64 `json:"latency_p99_ms"`
	LatencyMax  float64 `json:"latency_max_ms"`
	BytesPerSec float64 `json:"bytes_per_sec"`
	Errors      int     `json:"errors"`
	Disconnects int     `json:"disconnects"`
	Dials       int64   `json:"dials"`
}

// row is one server's measurement.
type row struct {
	server  string
	client  string // mxload -client
	viewers int
	fps     float64
	res     mxloadResult
	window  float64 // seconds
	srvCPU  float64 // server CPU seconds in the window
	loadCPU float64 // mxload CPU seconds in the window
	boxCPU  float64 // busy share of all CPUs in the window, 0-1
	rssBase int64   // server RSS before mxload, bytes
	rssMax  int64   // server RSS max in the window, bytes
	writes  float64 // server write system calls in the window
	reads   float64 // server read system calls in the window
}

func ramp(n int) time.Duration { return max(time.Second, time.Duration(n)*time.Millisecond) }

// run measures one server under mxload -client client, where client is a
// profile name and, after spaces, more mxload flags ("nethttp -parser fast"). A server given as
// NAME@PATH is NAME served by the fanout binary at PATH (built from a
// patched tree, say), labelled NAME@BASENAME. NAME-h2 is NAME over HTTP/2
// with TLS, b.h2Streams viewers to a connection; NAME-tls is NAME over
// HTTP/1.1 with TLS, which tells TLS's cost from HTTP/2's.
func (b *bench) run(server, client string, n int, fps float64, d time.Duration) row {
	t := b.t
	fanout := filepath.Join(b.bin, "fanout")
	label := server
	if name, path, ok := strings.Cut(server, "@"); ok {
		server, fanout, label = name, path, name+"@"+filepath.Base(path)
	}
	server, h2 := strings.CutSuffix(server, "-h2")
	server, h1TLS := strings.CutSuffix(server, "-tls")
	args := []string{"-server", server, "-addr", "127.0.0.1:0", "-fps", fmt.Sprint(fps), "-size", "640x480"}
	if h2 || h1TLS {
		args = append(args, "-tls")
	}
	if b.profile != "" {
		os.MkdirAll(b.profile, 0o755)
		name := fmt.Sprintf("%s-%s-%dx%g-run%d.pprof", filepath.Base(label), client, n, fps, b.runIndex+1)
		name = strings.NewReplacer("@", "_", " ", "", "=", "").Replace(name)
		args = append(args, "-cpuprofile", filepath.Join(b.profile, name))
	}
	srv := exec.Command(fanout, args...)
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("fanout -server %s: %v", server, err)
	}
	url := strings.Fields(strings.TrimPrefix(line, "listening on "))[0]
	time.Sleep(time.Second) // let the server settle before the baseline
	r := row{server: label, client: client, viewers: n, fps: fps, rssBase: rss(srv.Process.Pid)}

	cf := strings.Fields(client)
	largs := append([]string{"-url", url, "-n", strconv.Itoa(n), "-d", d.String(), "-client", cf[0],
		"-ramp", ramp(n).String(), "-warmup", b.warmup.String(), "-json", "-q"}, cf[1:]...)
	if h2 {
		largs = append(largs, "-h2", "-h2-streams", strconv.Itoa(b.h2Streams))
	}
	largs = append(largs, b.mxloadArgs...)
	load := exec.Command(filepath.Join(b.bin, "mxload"), largs...)
	var stdout, stderr bytes.Buffer
	load.Stdout, load.Stderr = &stdout, &stderr
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	var samples []sample
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample CPU and memory every 100 ms
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s := takeSample(srv.Process.Pid, load.Process.Pid)
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	err = load.Wait()
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("mxload %s: %v\n%s", strings.Join(largs, " "), err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.res); err != nil {
		t.Fatalf("mxload output: %v\n%s", err, stdout.String())
	}
	ws, we := time.Unix(0, r.res.WindowStart), time.Unix(0, r.res.WindowEnd)
	r.window = we.Sub(ws).Seconds()
	at := func(tm time.Time, f func(sample) float64) float64 { return interpolate(samples, tm, f) }
	r.srvCPU = at(we, sample.srv) - at(ws, sample.srv)
	r.loadCPU = at(we, sample.load) - at(ws, sample.load)
	r.writes = at(we, sample.writes) - at(ws, sample.writes)
	r.reads = at(we, sample.reads) - at(ws, sample.reads)
	busy := at(we, sample.busy) - at(ws, sample.busy)
	total := at(we, sample.total) - at(ws, sample.total)
	if total > 0 {
		r.boxCPU = busy / total
	}
	for _, s := range samples {
		if !s.at.Before(ws) && !s.at.After(we) {
			r.rssMax = max(r.rssMax, s.rss)
		}
	}
	return r
}
