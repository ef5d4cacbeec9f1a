package main

import (
	"maps"
	"slices"
	"sort"
)

// Stats3 is a minimum, median and maximum over viewers.
type Stats3 struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// Result is what a run measured. Per-viewer figures cover all requested
// viewers, including those that never connected (they count as 0).
type Result struct {
	URL     string `json:"url"`
	Viewers int    `json:"viewers"`
	// Connected is the number of viewers that got a stream at least once;
	// ConnectedAtStart and ConnectedAtEnd those streaming when the window
	// began and ended.
	Connected        int `json:"connected"`
	ConnectedAtStart int `json:"connected_at_start"`
	ConnectedAtEnd   int `json:"connected_at_end"`
	// The measured window, by publish time (X-Timestamp) on this host's
	// clock, as Unix nanoseconds and seconds.
	WindowStart int64   `json:"window_start_unix_nano"`
	WindowEnd   int64   `json:"window_end_unix_nano"`
	WindowSec   float64 `json:"window_sec"`
	// Timestamps reports whether the parts carried X-Timestamp. Without
	// it there is no share and no latency, and frames are counted by
	// receipt time.
	Timestamps bool `json:"timestamps"`
	// Frames is the number of distinct frames published in the window that
	// at least one viewer received; PublishFPS is Frames per second.
	Frames     int     `json:"frames"`
	PublishFPS float64 `json:"publish_fps"`
	// Delivered is the sum over viewers of distinct frames received.
	Delivered int64 `json:"delivered"`
	// FPS is distinct frames per second per viewer; Share is each viewer's
	// distinct frames / Frames.
	FPS   Stats3 `json:"fps"`
	Share Stats3 `json:"share"`
	// Latency, publish (X-Timestamp) to receipt of the part's delimiter,
	// in milliseconds, over every delivered frame. NegativeLatency counts
	// frames received before their timestamp (clocks differ).
	LatencyP50      float64 `json:"latency_p50_ms"`
	LatencyP99      float64 `json:"latency_p99_ms"`
	LatencyMax      float64 `json:"latency_max_ms"`
	LatencySamples  uint64  `json:"latency_samples"`
	NegativeLatency uint64  `json:"negative_latency"`
	// Bytes is the response body bytes read during the window (by receipt
	// time), BytesPerSec per second over all viewers.
	Bytes       int64   `json:"bytes"`
	BytesPerSec float64 `json:"bytes_per_sec"`
	// Parts counts every part received in the window, repeats included.
	Parts int64 `json:"parts"`
	// Errors counts failed requests (connect, status, content type);
	// Disconnects streams that were cut or ended before the run did.
	Errors      int            `json:"errors"`
	Disconnects int            `json:"disconnects"`
	ErrorCounts map[string]int `json:"error_counts,omitempty"`
	// The client profile, the parser, the largest read asked of a body,
	// and whether the viewers spoke HTTP/2, how many to a connection.
	Client    string `json:"client"`
	Parser    string `json:"parser"`
	ReadSize  int    `json:"read_size"`
	H2        bool   `json:"h2"`
	H2Streams int    `json:"h2_streams,omitempty"`
	// Dials counts the TCP connections opened (not with Config.Transport).
	Dials int64 `json:"dials"`
}

func (l *load) result() *Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	win := l.wEnd.Sub(l.wStart).Seconds()
	r := &Result{
		URL:              l.cfg.URL,
		Viewers:          len(l.viewers),
		Connected:        int(l.everConnected.Load()),
		ConnectedAtStart: l.connAt[0],
		ConnectedAtEnd:   l.connAt[1],
		WindowStart:      l.wStart.UnixNano(),
		WindowEnd:        l.wEnd.UnixNano(),
		WindowSec:        win,
		Timestamps:       !l.noTimestamp.Load(),
		Errors:           l.nerrs,
		Disconnects:      l.ndisc,
		ErrorCounts:      maps.Clone(l.errs),
		Client:           l.prof.name,
		Parser:           l.prof.parser,
		ReadSize:         l.prof.readSize,
		H2:               l.cfg.H2,
		Dials:            l.dialer.dials.Load(),
	}
	if l.cfg.H2 {
		r.H2Streams = l.cfg.H2Streams
	}
	if len(r.ErrorCounts) == 0 {
		r.ErrorCounts = nil
	}
	everConn := 0
	fps := make([]float64, len(l.viewers))
	for i, v := range l.viewers {
		r.Delivered += v.frames
		r.Bytes += v.winBytes.Load()
		r.Parts += v.winParts.Load()
		fps[i] = float64(v.frames) / win
		if v.connected {
			everConn++
		}
	}
	r.Connected = everConn
	r.BytesPerSec = float64(r.Bytes) / win
	r.FPS = stats3(fps)
	if r.Timestamps {
		r.Frames = l.frames.len()
		r.PublishFPS = float64(r.Frames) / win
		share := make([]float64, len(l.viewers))
		for i, v := range l.viewers {
			if r.Frames > 0 {
				share[i] = float64(v.frames) / float64(r.Frames)
			}
		}
		r.Share = stats3(share)
		p50, n := l.lat.quantile(0.5)
		p99, _ := l.lat.quantile(0.99)
		r.LatencyP50 = float64(p50) / 1e6
		r.LatencyP99 = float64(p99) / 1e6
		r.LatencyMax = float64(l.lat.max.Load()) / 1e3
		r.LatencySamples = n
		r.NegativeLatency = l.negative.Load()
	} else {
		r.Frames = int(slices.Max(fps) * win)
		r.PublishFPS = slices.Max(fps)
	}
	return r
}

func stats3(v []float64) Stats3 {
	if len(v) == 0 {
		return Stats3{}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats3{Min: s[0], Median: med, Max: s[len(s)-1]}
}
