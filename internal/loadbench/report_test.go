package loadbench

import (
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
)

// The tables TestFanoutComparison prints.

// perFrame returns the server's CPU µs per delivered frame.
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

// perDelivered returns x per delivered frame.
func (r row) perDelivered(x float64) float64 {
	if r.res.Delivered == 0 {
		return 0
	}
	return x / float64(r.res.Delivered)
}

// overTCP returns r's CPU µs per frame above the tcp row's in rows, and
// false when there is none.
func (r row) overTCP(rows []row) (float64, bool) {
	for _, b := range rows {
		if b.server == "tcp" && b.perFrame() > 0 {
			return r.perFrame() - b.perFrame(), true
		}
	}
	return 0, false
}

// ratios returns r's CPU per frame and p99 against the row named base in
// rows, and false when there is none.
func (r row) ratios(rows []row, base string) (cpu, p99 float64, ok bool) {
	for _, b := range rows {
		if b.server == base && b.perFrame() > 0 && b.res.LatencyP99 > 0 {
			return r.perFrame() / b.perFrame(), r.res.LatencyP99 / b.res.LatencyP99, true
		}
	}
	return 0, 0, false
}

func fmtRatio(x float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

// medianOr returns the median of v formatted, or "-" for none.
func medianOr(v []float64) string { return fmtRatio(median(v), len(v) > 0) }

// printSummary prints the medians over runs of the same configuration.
func printSummary(w *os.File, runs [][]row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\truns\tshare min (worst)\tp50 ms\tp99 ms\tsrv CPU%\tµs/frame\tµs/frame range\twrites/frame\treads/frame\tCPU x tcp\tCPU x tcp range\tµs over tcp\tp99 x tcp\tCPU x mx\t")
	for i, first := range runs[0] {
		var share, p50, p99, cpu, per, writes, reads, xcpu, xp99, xmx, over []float64
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
			writes = append(writes, r.perDelivered(r.writes))
			reads = append(reads, r.perDelivered(r.reads))
			if c, p, ok := r.ratios(rows, "tcp"); ok {
				xcpu, xp99 = append(xcpu, c), append(xp99, p)
			}
			if c, _, ok := r.ratios(rows, "mx"); ok {
				xmx = append(xmx, c)
			}
			if d, ok := r.overTCP(rows); ok {
				over = append(over, d)
			}
		}
		xrange := "-"
		if len(xcpu) > 0 {
			xrange = fmt.Sprintf("%.2f-%.2f", slices.Min(xcpu), slices.Max(xcpu))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%% (%.1f%%)\t%.2f\t%.2f\t%.0f%%\t%.1f\t%.1f-%.1f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t\n",
			first.server, len(per), 100*median(share), 100*worst, median(p50), median(p99), median(cpu),
			median(per), slices.Min(per), slices.Max(per), median(writes), median(reads),
			medianOr(xcpu), xrange, medianOr(over), medianOr(xp99), medianOr(xmx))
	}
	tw.Flush()
}

func printFanout(w *os.File, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tviewers\tconn\tdials\tpub fps\tshare min\tshare med\tfps med\tp50 ms\tp99 ms\tmax ms\tMB/s\tsrv CPU%\tµs/frame\twrites/frame\treads/frame\tCPU x tcp\tp99 x tcp\tCPU x mx\tmxload CPU%\tbox CPU%\terr+disc\t")
	for _, r := range rows {
		xcpu, xp99, ok := r.ratios(rows, "tcp")
		xmx, _, okmx := r.ratios(rows, "mx")
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.1f%%\t%.1f%%\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f%%\t%.1f\t%.2f\t%.2f\t%s\t%s\t%s\t%.0f%%\t%.0f%%\t%d\t\n",
			r.server, r.viewers, r.res.ConnectedAtStart, r.res.Dials, r.res.PublishFPS, 100*r.res.Share.Min, 100*r.res.Share.Median, r.res.FPS.Median,
			r.res.LatencyP50, r.res.LatencyP99, r.res.LatencyMax, r.res.BytesPerSec/1e6,
			100*r.srvCPU/r.window, r.perFrame(), r.perDelivered(r.writes), r.perDelivered(r.reads),
			fmtRatio(xcpu, ok), fmtRatio(xp99, ok), fmtRatio(xmx, okmx), 100*r.loadCPU/r.window, 100*r.boxCPU,
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
