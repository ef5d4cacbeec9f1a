package main

import (
	"context"
	"fmt"
	"time"
)

// progress prints a status line every second until ctx is done.
func (l *load) progress(ctx context.Context, start time.Time) {
	startWatch := time.NewTimer(time.Until(l.wStart))
	endWatch := time.NewTimer(time.Until(l.wEnd))
	defer startWatch.Stop()
	defer endWatch.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastParts, lastBytes int64
	last := start
	w := l.cfg.Progress
	for {
		select {
		case <-ctx.Done():
			if w != nil && l.cfg.ProgressTTY {
				fmt.Fprintln(w)
			}
			return
		case <-startWatch.C:
			l.mu.Lock()
			l.connAt[0] = int(l.connected.Load())
			l.mu.Unlock()
			continue
		case <-endWatch.C:
			l.mu.Lock()
			l.connAt[1] = int(l.connected.Load())
			l.mu.Unlock()
			continue
		case now := <-tick.C:
			if w == nil {
				continue
			}
			var parts, bytes int64
			for _, v := range l.viewers {
				parts += v.parts.Load()
				bytes += v.bytes.Load()
			}
			dt := now.Sub(last).Seconds()
			phase, h := "warmup ", &l.warm
			switch {
			case now.Before(start.Add(l.cfg.Ramp)):
				phase = "ramp   "
			case !now.Before(l.wEnd):
				phase, h = "grace  ", &l.lat
			case !now.Before(l.wStart):
				phase, h = "measure", &l.lat
			}
			p99s := "-"
			if p99, n := h.quantile(0.99); n > 0 {
				p99s = fmtMS(p99)
			}
			l.mu.Lock()
			nerr := l.nerrs + l.ndisc
			l.mu.Unlock()
			line := fmt.Sprintf("%6.1fs %s viewers %d/%d  fps %.0f  %.1f MB/s  p99 %s  errors %d",
				now.Sub(start).Seconds(), phase, l.connected.Load(), len(l.viewers),
				float64(parts-lastParts)/dt, float64(bytes-lastBytes)/dt/1e6, p99s, nerr)
			if l.cfg.ProgressTTY {
				fmt.Fprintf(w, "\r%-100s", line)
			} else {
				fmt.Fprintln(w, line)
			}
			lastParts, lastBytes, last = parts, bytes, now
		}
	}
}

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/1e6)
}
