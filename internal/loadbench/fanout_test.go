package loadbench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"
)

const fanoutSkip = `fan-out comparison skipped: it runs each server as a process under cmd/mxload for minutes; run it with
  MX_LOAD=1 go test -run TestFanoutComparison -v -timeout 30m ./internal/loadbench/
options (environment): MX_LOAD_CONFIGS="1000x30,100x30" (viewers x fps), MX_LOAD_SERVERS="tcp,mx,gin",
  MX_LOAD_D=20s, MX_LOAD_WARMUP=3s, MX_LOAD_IDLE=10000 (0: no idle test), MX_LOAD_IDLE_SERVERS="idle,mx",
  MX_LOAD_PROFILE=DIR (CPU profiles of the servers), MX_LOAD_MXLOAD_ARGS="-parser core",
  MX_LOAD_REPEAT=1; a server NAME@PATH runs NAME from the fanout binary at PATH (a patched build)`

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// TestFanoutComparison measures the servers of this package under cmd/mxload,
// each in its own process, and prints a table per configuration. It only
// runs with MX_LOAD set.
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
	bin := t.TempDir()
	for _, pkg := range []string{"github.com/mxreplace/mx/cmd/mxload", "github.com/mxreplace/mx/internal/loadbench/cmd/fanout"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	b := &bench{t: t, bin: bin, warmup: warmup, profile: os.Getenv("MX_LOAD_PROFILE"),
		mxloadArgs: strings.Fields(os.Getenv("MX_LOAD_MXLOAD_ARGS"))}
	fmt.Printf("machine: %d CPUs, load average before: %s\n", numCPU(), loadavg())
	repeat, _ := strconv.Atoi(env("MX_LOAD_REPEAT", "1"))
	runs := map[string][][]row{} // config -> runs -> rows
	var configs []string
	for i := range max(repeat, 1) {
		if repeat > 1 {
			fmt.Printf("\n=== run %d of %d\n", i+1, repeat)
		}
		for _, tab := range b.fanout(d, warmup) {
			c := fmt.Sprintf("%d viewers x %g fps", tab[0].viewers, tab[0].fps)
			if runs[c] == nil {
				configs = append(configs, c)
			}
			runs[c] = append(runs[c], tab)
		}
	}
	if repeat > 1 {
		for _, c := range configs {
			fmt.Printf("\n%s: medians of %d runs (ratios: median of the per-run ratios to tcp)\n", c, len(runs[c]))
			printSummary(os.Stdout, runs[c])
		}
		fmt.Println()
	}
	if n, _ := strconv.Atoi(env("MX_LOAD_IDLE", "10000")); n > 0 {
		var rows []row
		for _, s := range strings.Split(env("MX_LOAD_IDLE_SERVERS", "idle,mx"), ",") {
			rows = append(rows, b.run(strings.TrimSpace(s), n, 0, 5*time.Second))
		}
		fmt.Printf("\n%d idle viewers (no frames published), window 5s after %s ramp + %s warmup\n", n, ramp(n), warmup)
		printIdle(os.Stdout, rows)
		fmt.Println()
	}
}

// fanout runs every configuration of MX_LOAD_CONFIGS over MX_LOAD_SERVERS
// and returns a table of rows per configuration.
func (b *bench) fanout(d, warmup time.Duration) [][]row {
	t := b.t
	var tabs [][]row
	for _, c := range strings.Split(env("MX_LOAD_CONFIGS", "1000x30,100x30"), ",") {
		if c == "" {
			continue
		}
		var n int
		var fps float64
		if _, err := fmt.Sscanf(strings.TrimSpace(c), "%dx%g", &n, &fps); err != nil {
			t.Fatalf("MX_LOAD_CONFIGS: %q: want VIEWERSxFPS", c)
		}
		var rows []row
		for _, s := range strings.Split(env("MX_LOAD_SERVERS", "tcp,mx,gin"), ",") {
			r := b.run(strings.TrimSpace(s), n, fps, d)
			rows = append(rows, r)
			fmt.Printf("  done: %s %dx%g (load average %s)\n", r.server, n, fps, loadavg())
		}
		fmt.Printf("\n%d viewers x %g fps, 640x480, window %s after %s ramp + %s warmup\n", n, fps, d, ramp(n), warmup)
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
}

// row is one server's measurement.
type row struct {
	server  string
	viewers int
	fps     float64
	res     mxloadResult
	window  float64 // seconds
	srvCPU  float64 // server CPU seconds in the window
	loadCPU float64 // mxload CPU seconds in the window
	boxCPU  float64 // busy share of all CPUs in the window, 0-1
	rssBase int64   // server RSS before mxload, bytes
	rssMax  int64   // server RSS max in the window, bytes
}

func ramp(n int) time.Duration { return max(time.Second, time.Duration(n)*time.Millisecond) }

// run measures one server. A server given as NAME@PATH is NAME served by
// the fanout binary at PATH (built from a patched tree, say), labelled
// NAME@BASENAME.
func (b *bench) run(server string, n int, fps float64, d time.Duration) row {
	t := b.t
	fanout := filepath.Join(b.bin, "fanout")
	label := server
	if name, path, ok := strings.Cut(server, "@"); ok {
		server, fanout, label = name, path, name+"@"+filepath.Base(path)
	}
	args := []string{"-server", server, "-addr", "127.0.0.1:0", "-fps", fmt.Sprint(fps), "-size", "640x480"}
	if b.profile != "" {
		os.MkdirAll(b.profile, 0o755)
		args = append(args, "-cpuprofile", filepath.Join(b.profile, fmt.Sprintf("%s-%dx%g.pprof", filepath.Base(label), n, fps)))
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
	r := row{server: label, viewers: n, fps: fps, rssBase: rss(srv.Process.Pid)}

	largs := append([]string{"-url", url, "-n", strconv.Itoa(n), "-d", d.String(),
		"-ramp", ramp(n).String(), "-warmup", b.warmup.String(), "-json", "-q"}, b.mxloadArgs...)
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
	tick := clockTick()
	at := func(tm time.Time, f func(sample) float64) float64 { return interpolate(samples, tm, f) }
	r.srvCPU = (at(we, sample.srv) - at(ws, sample.srv)) / tick
	r.loadCPU = (at(we, sample.load) - at(ws, sample.load)) / tick
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

func (r row) perFrame() float64 {
	if r.res.Delivered == 0 {
		return 0
	}
	return r.srvCPU / float64(r.res.Delivered) * 1e6
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// printSummary prints the medians over runs of the same configuration.
func printSummary(w *os.File, runs [][]row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\truns\tshare min (worst)\tp50 ms\tp99 ms\tsrv CPU%\tµs/frame\tµs/frame range\tCPU x tcp\tp99 x tcp\t")
	for i, first := range runs[0] {
		var share, p50, p99, cpu, per, xcpu, xp99 []float64
		worst := 1.0
		for _, rows := range runs {
			if i >= len(rows) {
				continue
			}
			r := rows[i]
			worst = min(worst, r.res.Share.Min)
			share = append(share, r.res.Share.Min)
			p50 = append(p50, r.res.LatencyP50)
			p99 = append(p99, r.res.LatencyP99)
			cpu = append(cpu, 100*r.srvCPU/r.window)
			per = append(per, r.perFrame())
			for _, t := range rows {
				if t.server == "tcp" && t.perFrame() > 0 && t.res.LatencyP99 > 0 {
					xcpu = append(xcpu, r.perFrame()/t.perFrame())
					xp99 = append(xp99, r.res.LatencyP99/t.res.LatencyP99)
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%% (%.1f%%)\t%.2f\t%.2f\t%.0f%%\t%.1f\t%.1f-%.1f\t%.2f\t%.2f\t\n",
			first.server, len(per), 100*median(share), 100*worst, median(p50), median(p99), median(cpu),
			median(per), slices.Min(per), slices.Max(per), median(xcpu), median(xp99))
	}
	tw.Flush()
}

func printFanout(w *os.File, rows []row) {
	var tcp *row
	for i := range rows {
		if rows[i].server == "tcp" {
			tcp = &rows[i]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tviewers\tconn\tpub fps\tshare min\tshare med\tfps med\tp50 ms\tp99 ms\tmax ms\tMB/s\tsrv CPU%\tµs/frame\tCPU x tcp\tp99 x tcp\tmxload CPU%\tbox CPU%\terr+disc\t")
	for _, r := range rows {
		perFrame := 0.0
		if r.res.Delivered > 0 {
			perFrame = r.srvCPU / float64(r.res.Delivered) * 1e6
		}
		xcpu, xp99 := "-", "-"
		if tcp != nil && tcp.res.Delivered > 0 && tcp.srvCPU > 0 {
			xcpu = fmt.Sprintf("%.2f", perFrame/(tcp.srvCPU/float64(tcp.res.Delivered)*1e6))
			xp99 = fmt.Sprintf("%.2f", r.res.LatencyP99/tcp.res.LatencyP99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.1f%%\t%.1f%%\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.0f%%\t%.1f\t%s\t%s\t%.0f%%\t%.0f%%\t%d\t\n",
			r.server, r.viewers, r.res.ConnectedAtStart, r.res.PublishFPS, 100*r.res.Share.Min, 100*r.res.Share.Median, r.res.FPS.Median,
			r.res.LatencyP50, r.res.LatencyP99, r.res.LatencyMax, r.res.BytesPerSec/1e6,
			100*r.srvCPU/r.window, perFrame, xcpu, xp99, 100*r.loadCPU/r.window, 100*r.boxCPU,
			r.res.Errors+r.res.Disconnects)
	}
	tw.Flush()
}

func printIdle(w *os.File, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tviewers\tconnected\tRSS before MB\tRSS with viewers MB\tKB per viewer\tsrv CPU%\terrors\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f%%\t%d\t\n",
			r.server, r.viewers, r.res.ConnectedAtStart, float64(r.rssBase)/1e6, float64(r.rssMax)/1e6,
			float64(r.rssMax-r.rssBase)/1024/float64(max(r.res.ConnectedAtStart, 1)),
			100*r.srvCPU/r.window, r.res.Errors+r.res.Disconnects)
	}
	tw.Flush()
}
