package mxtest

import (
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Eventually calls cond until it returns true. After timeout it fails the
// test with what. It waits for something that must happen; it asserts
// nothing about how fast.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Tool returns the path of a command-line tool. It skips the test when
// the tool is not installed, naming the Debian package to install.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s): %v", name, name, err)
	}
	return p
}

// syncBuffer is a byte buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
