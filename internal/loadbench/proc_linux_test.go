package loadbench

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestProcCPU: the CPU time read from /proc follows this process's own,
// finer than clock ticks.
func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	before := procCPU(pid)
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	got := procCPU(pid) - before
	want := float64(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) / 1e9
	if got < want*0.8 || got > want*1.2+0.005 {
		t.Errorf("procCPU moved by %.4fs while rusage moved by %.4fs", got, want)
	}
}
