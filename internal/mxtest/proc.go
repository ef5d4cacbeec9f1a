package mxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Binary is a main package built once per test binary, on first use.
type Binary struct {
	Pkg string // import path, or "." for the package under test

	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// Path builds the package once and returns the executable's path.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "mxtest-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "app")
		// go test puts its own go command first in PATH.
		b.out, b.err = exec.Command("go", "build", "-o", b.path, b.Pkg).CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v\n%s", b.Pkg, b.err, b.out)
	}
	return b.path
}

// Remove deletes the built executable. Call it from TestMain after m.Run.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Proc is a running program.
type Proc struct {
	Cmd *exec.Cmd
	// URL is the base URL from the program's first http:// or https:// line, such as
	// "http://127.0.0.1:41234", without a trailing slash.
	URL string

	out, errs syncBuffer
	done      chan struct{}
	exitedAt  time.Time
}

var urlRE = regexp.MustCompile(`https?://[^\s/]+`)

// Start runs the program at path with args and waits for its URL line.
// It adds "-addr 127.0.0.1:0" unless args hold -addr. The process is
// killed when the test ends, if it still runs.
func Start(t testing.TB, path string, args ...string) *Proc {
	t.Helper()
	if !slices.Contains(args, "-addr") {
		args = append(args, "-addr", "127.0.0.1:0")
	}
	p := &Proc{Cmd: exec.Command(path, args...), done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.errs
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.Cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s %q stdout:\n%s\nstderr:\n%s", filepath.Base(path), args, p.out.String(), p.errs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for p.URL == "" {
		select {
		case <-p.done:
			t.Fatalf("exited before printing its URL: %v\nstderr: %s", p.Cmd.ProcessState, p.errs.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL within 30 s; stderr: %s", p.errs.String())
		}
		p.URL = urlRE.FindString(p.out.String())
	}
	return p
}

// Signal sends sig to the process and returns when it was sent.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) time.Time {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v: %v", sig, err)
	}
	return time.Now()
}

// Wait waits up to 20 s for the process to exit. It returns the exit code
// and when the process exited.
func (p *Proc) Wait(t testing.TB) (code int, at time.Time) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("still running after 20 s; stderr: %s", p.errs.String())
	}
	return p.Cmd.ProcessState.ExitCode(), p.exitedAt
}

// Stop sends SIGTERM and checks that the process exits 0 within bound.
func (p *Proc) Stop(t testing.TB, bound time.Duration) {
	t.Helper()
	asked := p.Signal(t, syscall.SIGTERM)
	p.CheckExit(t, asked, bound)
}

// CheckExit waits for the process. It checks that it exits with status 0
// within bound of asked.
func (p *Proc) CheckExit(t testing.TB, asked time.Time, bound time.Duration) {
	t.Helper()
	code, at := p.Wait(t)
	d := at.Sub(asked)
	t.Logf("exited with status %d %v after the shutdown was asked for", code, d.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit status %d, want 0; stderr: %s", code, p.errs.String())
	}
	if d > bound {
		t.Errorf("exited %v after the shutdown was asked for, want < %v", d, bound)
	}
}

// Stdout returns what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.out.String() }

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.errs.String() }

// Run runs the program at path with args to its end, within 20 s. It
// returns the exit code and the combined output.
func Run(t testing.TB, path string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.WaitDelay = time.Second
	done := make(chan struct{})
	var out []byte
	go func() {
		out, _ = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%q still running after 20 s: %s", args, out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// Main runs the tests of a package that builds programs, for TestMain. It
// checks for leaked goroutines, then removes the built programs.
func Main(m *testing.M, bins ...*Binary) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		for _, b := range bins {
			b.Remove()
		}
		os.Exit(code)
	}))
}
