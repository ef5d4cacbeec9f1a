// Package browser drives real, locally installed web browsers from Go tests.
//
// It is a small test helper: Chromium is used in headless screenshot mode
// (one process per screenshot) and Firefox is driven through its Marionette
// remote protocol, which works for documents that never finish loading,
// such as multipart/x-mixed-replace streams.
//
// Everything runs headless, works as root, and never needs network access
// beyond loopback. Browser processes are started in their own process group
// and the whole group is killed when they are no longer needed, so no
// helper or content process is left behind.
//
// Tests call [Chromium] or [Firefox] first: they skip the test when the
// browser is not installed.
package browser

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumNames and firefoxNames are the executable names looked up in PATH,
// in order of preference.
var (
	chromiumNames = []string{"chromium", "chromium-browser"}
	firefoxNames  = []string{"firefox-esr", "firefox"}
)

// lookPath returns the first of names found in PATH or in /usr/bin.
func lookPath(names []string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
		p := filepath.Join("/usr/bin", n)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("browser: none of %q found in PATH or /usr/bin: %w", names, exec.ErrNotFound)
}

// ChromiumPath returns the path of the Chromium executable, or an error
// wrapping [exec.ErrNotFound] if it is not installed.
func ChromiumPath() (string, error) { return lookPath(chromiumNames) }

// FirefoxPath returns the path of the Firefox executable (firefox-esr is
// preferred), or an error wrapping [exec.ErrNotFound] if it is not installed.
func FirefoxPath() (string, error) { return lookPath(firefoxNames) }

// Chromium returns the path of the Chromium executable. If Chromium is not
// installed it skips the test.
func Chromium(t testing.TB) string {
	t.Helper()
	p, err := ChromiumPath()
	if err != nil {
		t.Skip("chromium not installed: apt-get install chromium")
	}
	return p
}

// Firefox returns the path of the Firefox executable. If Firefox is not
// installed it skips the test.
func Firefox(t testing.TB) string {
	t.Helper()
	p, err := FirefoxPath()
	if err != nil {
		t.Skip("firefox not installed: apt-get install firefox-esr")
	}
	return p
}

// newGroupCmd prepares cmd to run in a new process group. If cmd was
// created with [exec.CommandContext], the whole group is killed when the
// context is done.
func newGroupCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.Cancel != nil {
		cmd.Cancel = func() error {
			killGroup(cmd)
			return nil
		}
	}
}

// killGroup sends SIGKILL to the process group led by cmd's process. It is
// a no-op if the process was never started or the group is already gone.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.Process.Pid <= 0 {
		return
	}
	// The process group ID equals the leader's PID (Setpgid with Pgid 0).
	// The ID cannot be reused while any member of the group is alive; once
	// the whole group is gone, its reuse within the moments between the
	// leader's exit and this call is practically impossible.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// waitGroupGone waits up to timeout for the process group led by cmd's
// (already reaped) process to have no live member left. Killed members that
// were orphaned stay in the group as zombies until their new parent reaps
// them, which some init processes only do every few seconds; zombies use
// no resources and are not waited for. It reports whether the group is
// gone.
func waitGroupGone(cmd *exec.Cmd, timeout time.Duration) bool {
	if cmd.Process == nil || cmd.Process.Pid <= 0 {
		return true
	}
	deadline := time.Now().Add(timeout)
	for {
		if !groupAlive(cmd.Process.Pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupAlive reports whether process group pgid has a member that is not a
// zombie. Where /proc is not available, zombies count as alive.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	alive := false
	err := walkProcs(func(_ int, stat []string, _ []byte) {
		if g, err := strconv.Atoi(stat[2]); err == nil && g == pgid {
			alive = true
		}
	})
	return alive || err != nil
}

// killMatching kills every live process (other than this one) whose
// command line arguments satisfy match, and waits up to timeout for them
// to die. It catches processes that left the browser's process group, such
// as crash handlers, which start sessions of their own. It reports whether
// none is left.
func killMatching(match func(args []string) bool, timeout time.Duration) bool {
	self := os.Getpid()
	deadline := time.Now().Add(timeout)
	for {
		n := 0
		walkProcs(func(pid int, _ []string, cmdline []byte) {
			if pid == self || len(cmdline) == 0 {
				return
			}
			if match(strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")) {
				n++
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mentions returns a matcher for killMatching that matches command lines
// with an argument containing s (a unique temporary directory).
func mentions(s string) func(args []string) bool {
	return func(args []string) bool {
		for _, a := range args {
			if strings.Contains(a, s) {
				return true
			}
		}
		return false
	}
}

// walkProcs calls fn for each live (not zombie) process listed in /proc,
// with the fields of its stat file after the command name (state, ppid,
// pgrp, ...) and its command line.
func walkProcs(fn func(pid int, stat []string, cmdline []byte)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain anything.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		fn(pid, f, cmdline)
	}
	return nil
}

// tailFile returns up to the last n bytes of the file at path, without the
// lines that contain any of noise, trimmed of surrounding white space, or a
// note if it cannot be read.
func tailFile(path string, n int, noise ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no output)"
		}
		return fmt.Sprintf("(reading output: %v)", err)
	}
	if len(noise) > 0 {
		var kept []byte
	lines:
		for _, line := range bytes.SplitAfter(b, []byte("\n")) {
			for _, s := range noise {
				if bytes.Contains(line, []byte(s)) {
					continue lines
				}
			}
			kept = append(kept, line...)
		}
		b = kept
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
		b = append([]byte("..."), b...)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(no output)"
	}
	return string(b)
}
