package loadbench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is the CPU time of the server and of mxload (in seconds), of the
// machine (in clock ticks), the server's RSS and its read and write system calls so far,
// at one time.
type sample struct {
	at                    time.Time
	srvCPU, loadCPU       float64
	busyTicks, totalTicks float64
	rss                   int64
	syscr, syscw          float64
}

func (s sample) srv() float64    { return s.srvCPU }
func (s sample) load() float64   { return s.loadCPU }
func (s sample) busy() float64   { return s.busyTicks }
func (s sample) total() float64  { return s.totalTicks }
func (s sample) reads() float64  { return s.syscr }
func (s sample) writes() float64 { return s.syscw }

func takeSample(srv, load int) sample {
	s := sample{at: time.Now(), srvCPU: procCPU(srv), loadCPU: procCPU(load), rss: rss(srv)}
	s.busyTicks, s.totalTicks = machineTicks()
	s.syscr, s.syscw = syscalls(srv)
	return s
}

// syscalls returns the read and write system calls of a process so far
// (syscr and syscw of /proc/PID/io: read, readv, write, writev and their
// kin, sockets included), or zeros where it cannot be read.
func syscalls(pid int) (r, w float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		x, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch k {
		case "syscr":
			r = x
		case "syscw":
			w = x
		}
	}
	return r, w
}

// procCPU returns the CPU time of a process in seconds: the sum of its
// threads' time on a CPU from /proc/PID/task/*/schedstat, in nanoseconds
// (Go's threads do not exit), else utime+stime from /proc/PID/stat, in
// clock ticks (10 ms: too coarse for a few seconds of a light server).
func procCPU(pid int) float64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	ns, ok := 0.0, len(tasks) > 0
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		f := strings.Fields(string(b))
		if err != nil || len(f) == 0 {
			ok = false
			break
		}
		x, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			ok = false
			break
		}
		ns += x
	}
	if ok {
		return ns / 1e9
	}
	return procTicks(pid) / clockTick()
}

// procTicks returns utime+stime of a process from /proc/PID/stat.
func procTicks(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return u + s
}

// machineTicks returns the busy and total ticks of all CPUs from /proc/stat.
func machineTicks() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		total += x
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	return busy, total
}

// rss returns VmRSS of a process in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// clockTick returns the clock ticks per second.
var clockTick = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
})

// interpolate returns f at time tm, linearly between the samples around it.
func interpolate(s []sample, tm time.Time, f func(sample) float64) float64 {
	if len(s) == 0 {
		return 0
	}
	if !tm.After(s[0].at) {
		return f(s[0])
	}
	for i := 1; i < len(s); i++ {
		if !tm.After(s[i].at) {
			a, b := s[i-1], s[i]
			x := float64(tm.Sub(a.at)) / float64(b.at.Sub(a.at))
			return f(a) + x*(f(b)-f(a))
		}
	}
	return f(s[len(s)-1])
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
