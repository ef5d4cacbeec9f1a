package livetest

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is a main package built once per test binary, on first use.
type Binary struct {
	Pkg string // import path

	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// Path builds the package (once) and returns the executable's path.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "mx-livetest-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, filepath.Base(b.Pkg))
		cmd := exec.Command("go", "build", "-o", b.path, b.Pkg)
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v\n%s", b.Pkg, b.err, b.out)
	}
	return b.path
}

// Remove deletes the built executable; call it from TestMain after m.Run.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Proc is a running app process.
type Proc struct {
	Cmd  *exec.Cmd
	URL  string // base URL from the printed line, without the trailing slash
	out  *urlWriter
	errs *syncBuffer
	done chan struct{}
}

var urlRE = regexp.MustCompile(`http://[^\s/]+`)

// Start runs the executable with args and -addr 127.0.0.1:0, and waits for
// the URL line. The process is killed at cleanup if it still runs.
func Start(t testing.TB, path string, args ...string) *Proc {
	t.Helper()
	p := &Proc{out: &urlWriter{found: make(chan string, 1)}, errs: new(syncBuffer), done: make(chan struct{})}
	p.Cmd = exec.Command(path, append(args, "-addr", "127.0.0.1:0")...)
	p.Cmd.Stdout = p.out
	p.Cmd.Stderr = p.errs
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.URL = <-p.out.found:
	case <-p.done:
		t.Fatalf("%s exited before printing its URL: %v\nstderr: %s", filepath.Base(path), p.Cmd.ProcessState, p.errs)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s printed no URL within 30 s; stderr: %s", filepath.Base(path), p.errs)
	}
	return p
}

// Stop sends SIGTERM and waits (at most 20 s) for the process to exit; it
// returns the exit code.
func (p *Proc) Stop(t testing.TB) int {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the app did not exit within 20 s of SIGTERM; stderr: %s", p.errs)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.errs.String() }

// urlWriter is a process's stdout: it reports the first http:// URL.
type urlWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	sent  bool
	found chan string
}

func (w *urlWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if !w.sent {
		if m := urlRE.Find(w.buf.Bytes()); m != nil {
			w.sent = true
			w.found <- string(m)
		}
	}
	return len(b), nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tool returns the path of a command-line tool or skips the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s): %v", name, name, err)
	}
	return p
}

// FFmpeg has ffmpeg read n frames of the MJPEG stream at url (-f mpjpeg)
// and returns them decoded (ffmpeg writes them as PNG). ffmpeg must exit 0.
func FFmpeg(t testing.TB, url string, n int) []image.Image {
	t.Helper()
	bin := Tool(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "mpjpeg", "-i", url, "-frames:v", strconv.Itoa(n), "-f", "image2pipe", "-vcodec", "png", "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("ffmpeg stderr: %s", stderr.Bytes())
	}
	var imgs []image.Image
	r := bufio.NewReader(&stdout)
	for {
		if _, err := r.Peek(1); err == io.EOF {
			break
		}
		img, err := png.Decode(r)
		if err != nil {
			t.Fatalf("ffmpeg output, image %d: %v", len(imgs), err)
		}
		imgs = append(imgs, img)
	}
	if len(imgs) < n {
		t.Fatalf("ffmpeg decoded %d frames, want %d", len(imgs), n)
	}
	return imgs
}
