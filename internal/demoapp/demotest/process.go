package demotest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/internal/demoapp"
)

// CheckProcess builds the demo app in the current directory (the package
// under test) and runs the contract (DESIGN.md section 4) against the
// program: it prints its URL, answers 404 and 405, and on GET /quit,
// SIGTERM or SIGINT ends open streams cleanly at once and exits 0 within
// 2 s; 100 clients at once each get the whole demo in about the demo's own
// time. name is the framework named in the URL line. Its subtests are
// parallel.
func CheckProcess(t *testing.T, name string) {
	bin := filepath.Join(t.TempDir(), name+"-demo")
	// go test puts its own go command first in PATH.
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("Quit", func(t *testing.T) {
		t.Parallel()
		p := startProcess(t, bin, name, "-addr", "127.0.0.1:0")
		c := newClient(t)
		streams := openDemos(t, c, p.url, 2)
		for _, path := range []string{"nope", "favicon.ico"} {
			CheckPlain(t, c, http.MethodGet, p.url+path, http.StatusNotFound, demoapp.Body(http.StatusNotFound))
		}
		CheckPlain(t, c, http.MethodPost, p.url, http.StatusMethodNotAllowed, demoapp.Body(http.StatusMethodNotAllowed))
		CheckPlain(t, c, http.MethodGet, p.url+"quit", http.StatusAccepted, demoapp.Body(http.StatusAccepted))
		asked := time.Now()
		checkEndedAtOnce(t, streams, asked)
		p.checkExit(t, asked)
	})

	for _, sig := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
		t.Run(sig.name, func(t *testing.T) {
			t.Parallel()
			// All interfaces: the URL line names localhost.
			p := startProcess(t, bin, name, "-addr", ":0")
			if u, err := url.Parse(p.url); err != nil || u.Hostname() != "localhost" {
				t.Errorf("URL %q for -addr :0, want http://localhost:PORT/", p.url)
			}
			c := newClient(t)
			streams := openDemos(t, c, p.url, 2)
			if err := p.cmd.Process.Signal(sig.sig); err != nil {
				t.Fatal(err)
			}
			asked := time.Now()
			checkEndedAtOnce(t, streams, asked)
			p.checkExit(t, asked)
		})
	}

	t.Run("100Clients", func(t *testing.T) {
		t.Parallel()
		const n = 100
		p := startProcess(t, bin, name, "-addr", "127.0.0.1:0")
		c := newClient(t)
		type result struct {
			got []Arrival
			err error
		}
		results := make([]result, n)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		start := time.Now()
		for i := range results {
			wg.Go(func() {
				r := &results[i]
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
				if err != nil {
					r.err = err
					return
				}
				resp, err := c.Do(req)
				if err != nil {
					r.err = err
					return
				}
				defer resp.Body.Close()
				for part, err := range core.ReadResponse(resp, nil) {
					if err != nil {
						r.err = err
						return
					}
					r.got = append(r.got, Arrival{Part: part, At: time.Now()})
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		t.Logf("%d clients got the demo (%v long) in %v", n, DemoDuration, took.Round(time.Millisecond))
		for i, r := range results {
			if r.err != nil {
				t.Errorf("client %d: %v", i, r.err)
				continue
			}
			CheckDemoParts(t, r.got)
		}
		if bound := 9 * time.Second; took > bound {
			t.Errorf("%d clients took %v, want < %v (about the demo's own %v)", n, took, bound, DemoDuration)
		}
		CheckPlain(t, c, http.MethodGet, p.url+"quit", http.StatusAccepted, demoapp.Body(http.StatusAccepted))
		p.checkExit(t, time.Now())
	})
}

// process is a running demo app.
type process struct {
	cmd    *exec.Cmd
	url    string
	out    *lineWriter
	exited chan struct{}
	err    error     // from Wait, once exited is closed
	at     time.Time // when it exited
}

// startProcess starts bin with args and waits for its URL line. The
// process is killed when the test ends, if it is still running.
func startProcess(t *testing.T, bin, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: newLineWriter(), exited: make(chan struct{})}
	var stderr syncBuffer
	p.cmd.Stdout, p.cmd.Stderr = p.out, &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.at = time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", name, p.out, stderr.String())
		}
	})
	p.url = p.out.url(t, name, 10*time.Second)
	return p
}

// checkExit checks that the process exits with status 0 within exitBound
// of asked.
func (p *process) checkExit(t *testing.T, asked time.Time) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("process still running 10s after the shutdown was asked for")
	}
	d := p.at.Sub(asked)
	t.Logf("process exited %v after the shutdown was asked for", d.Round(time.Microsecond))
	if d > exitBound {
		t.Errorf("process exited %v after the shutdown was asked for, want < %v", d, exitBound)
	}
	if p.err != nil {
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			t.Errorf("process exited with %v, want status 0", ee.ProcessState)
		} else {
			t.Error(p.err)
		}
	}
}

// newClient returns a client of its own, whose connections are closed when
// the test ends.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// syncBuffer is a strings.Builder safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
