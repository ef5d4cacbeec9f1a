package main

import (
	"bufio"
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/mxtest"
)

var app = mxtest.Binary{Pkg: "."}

func TestMain(m *testing.M) { mxtest.Main(m, &app) }

// build returns the command, built once.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	return app.Path(t)
}

// proc is the command running as a process.
type proc struct {
	cmd    *exec.Cmd
	urls   []string // from its "listening on http://..." lines
	stderr bytes.Buffer
}

var urlLine = regexp.MustCompile(`listening on (http://\S+)`)

// start runs bin with args and waits for want URL lines.
func start(t *testing.T, bin string, want int, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...)}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(60 * time.Second)
	for len(p.urls) < want {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%v ended before printing %d URLs: %s", args, want, &p.stderr)
			}
			if m := urlLine.FindStringSubmatch(l); m != nil {
				p.urls = append(p.urls, m[1])
			}
		case <-timeout:
			t.Fatalf("%v: %d URL lines within 60 s, want %d", args, len(p.urls), want)
		}
	}
	go func() { // the rest of the output
		for range lines {
		}
	}()
	return p
}

// stop sends SIGTERM and wants exit status 0 within 10 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v, want status 0; stderr: %s", err, &p.stderr)
		}
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
		t.Errorf("no exit within 10 s of SIGTERM")
	}
}

// check fetches the page, the snapshot and three stream parts of the site
// at url, each part newer than the one before.
func check(t *testing.T, url string) {
	t.Helper()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s%s: %s", url, path, resp.Status)
		}
		return resp
	}
	resp := get("")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(page, []byte(`<mx-stream src="/stream" age>`)) || !bytes.Contains(page, []byte(`<img src="/stream"`)) {
		t.Errorf("%s: page without the stream: %s", url, page)
	}
	resp = get("mx-stream.js")
	script, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || string(script) != core.LiveViewScript {
		t.Errorf("%s: mx-stream.js: %q, %d bytes", url, ct, len(script))
	}
	resp = get("snapshot")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("%s: snapshot %q, %d bytes: %v", url, resp.Header.Get("Content-Type"), len(body), err)
	}
	resp = get("stream")
	defer resp.Body.Close()
	var last string
	n := 0
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil {
			t.Fatalf("%s: stream: %v", url, err)
		}
		ts := p.Header.Get(core.TimestampHeader)
		if p.ContentType() != "image/jpeg" || ts == "" || ts < last {
			t.Fatalf("%s: part %v after timestamp %s", url, p.Header, last)
		}
		if ts == last {
			continue // an idle repeat
		}
		if _, err := jpeg.Decode(bytes.NewReader(p.Body)); err != nil {
			t.Fatalf("%s: part %d: %v", url, n, err)
		}
		last = ts
		if n++; n == 3 {
			return
		}
	}
	t.Fatalf("%s: stream ended after %d parts", url, n)
}

// openStream opens the stream of the site at url, reads its first 1,000
// bytes (a part has begun), and returns the whole body.
func openStream(t *testing.T, url string) io.Reader {
	t.Helper()
	resp, err := http.Get(url + "stream")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	start := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, start); err != nil {
		t.Fatalf("%sstream: %v", url, err)
	}
	return io.MultiReader(bytes.NewReader(start), resp.Body)
}

// endsCleanly reads a stream to its end and wants the close delimiter last.
func endsCleanly(t *testing.T, body io.Reader) {
	t.Helper()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("stream cut: %v", err)
	}
	if !regexp.MustCompile(`\r\n--[0-9A-Za-z'()+_,./:=?-]{1,70}--\r\n$`).Match(b[max(0, len(b)-100):]) {
		t.Fatalf("stream does not end with the close delimiter: ...%q", b[max(0, len(b)-100):])
	}
}

// With no flags but -addr: an embedded NATS server, an origin and 2 edges.
func TestAll(t *testing.T) {
	p := start(t, build(t), 3, "-addr", "127.0.0.1:0", "-fps", "20")
	var streams []io.Reader
	for _, u := range p.urls {
		check(t, u)
		streams = append(streams, openStream(t, u))
	}
	p.stop(t)
	for _, s := range streams {
		endsCleanly(t, s)
	}
}

// An origin and an edge as separate processes, on a NATS server of the
// test's; the edge is given a dead NATS URL first.
func TestRoles(t *testing.T) {
	bin := build(t)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	origin := start(t, bin, 1, "-role", "origin", "-nats", ns.ClientURL(), "-addr", "127.0.0.1:0", "-fps", "0.5")
	edge := start(t, bin, 1, "-role", "edge", "-nats", "nats://127.0.0.1:1,"+ns.ClientURL(), "-addr", "127.0.0.1:0", "-subject", "mx.camera")
	// At 0.5 fps, the edge's first viewer gets the latest frame at once.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, edge.urls[0]+"stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	for p, err := range core.ReadResponse(resp, nil) {
		if err != nil || p.ContentType() != "image/jpeg" {
			t.Fatalf("edge: first part %v: %v", p.Header, err)
		}
		break
	}
	resp.Body.Close()
	s := openStream(t, edge.urls[0])
	edge.stop(t)
	endsCleanly(t, s)
	if !strings.Contains(origin.urls[0], "http://127.0.0.1:") {
		t.Errorf("origin URL %s", origin.urls[0])
	}
	origin.stop(t)
}

// The first edge's server is safe to expose: header cap, slow header and
// idle connection cut, and SIGTERM with stalled viewers ends the others'
// streams cleanly and exits 0.
func TestSafeServer(t *testing.T) {
	mxtest.CheckSafeServer(t, &app, "/stream", "-fps", "30", "-edges", "1")
}
