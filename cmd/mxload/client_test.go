package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunClients runs each client profile, and HTTP/2, against a
// Broadcaster: every viewer gets the frames, latency is measured, and the
// profile's reads and connections are the ones asked for.
func TestRunClients(t *testing.T) {
	const fps = 25.0
	h1 := camera(t, fps, 8000)
	h2 := cameraServer(t, fps, 8000, true)
	tests := []struct {
		name      string
		cfg       Config
		parser    string
		readSize  int
		dials     int64
		h2Streams int
	}{
		{"raw", Config{URL: h1}, ParserFast, 64 << 10, 12, 0},
		{"nethttp", Config{URL: h1, Client: ClientNetHTTP}, ParserCore, 4096, 12, 0},
		{"nethttp fast", Config{URL: h1, Client: ClientNetHTTP, Parser: ParserFast}, ParserFast, 4096, 12, 0},
		{"small", Config{URL: h1, Client: ClientSmall}, ParserFast, 2048, 12, 0},
		{"small 1KiB", Config{URL: h1, Client: ClientSmall, ReadSize: 1024}, ParserFast, 1024, 12, 0},
		{"h2 raw", Config{URL: h2, H2: true, H2Streams: 5}, ParserFast, 64 << 10, 3, 5},
		{"h2 nethttp", Config{URL: h2, Client: ClientNetHTTP, H2: true, H2Streams: 5}, ParserCore, 4096, 3, 5},
		{"h2 small", Config{URL: h2, Client: ClientSmall, H2: true, H2Streams: 100}, ParserFast, 2048, 1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Viewers, cfg.Duration = 12, 1500*time.Millisecond
			cfg.Ramp, cfg.Warmup = 200*time.Millisecond, 300*time.Millisecond
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Connected != 12 || res.Errors != 0 || res.Disconnects != 0 {
				t.Errorf("connected %d, errors %d (%v), disconnects %d; want 12, 0, 0", res.Connected, res.Errors, res.ErrorCounts, res.Disconnects)
			}
			if res.Parser != tt.parser || res.ReadSize != tt.readSize || res.Dials != tt.dials ||
				res.H2 != tt.cfg.H2 || res.H2Streams != tt.h2Streams {
				t.Errorf("parser %s, read size %d, dials %d, h2 %v (%d streams); want %s, %d, %d, %v (%d)",
					res.Parser, res.ReadSize, res.Dials, res.H2, res.H2Streams,
					tt.parser, tt.readSize, tt.dials, tt.cfg.H2, tt.h2Streams)
			}
			if res.Share.Min < 0.9 {
				t.Errorf("share %+v, want at least 0.9 for every viewer", res.Share)
			}
			if res.FPS.Median < 0.8*fps || res.FPS.Median > 1.1*fps {
				t.Errorf("median fps %.2f, want about %g", res.FPS.Median, fps)
			}
			if res.LatencySamples < uint64(res.Delivered) || res.LatencyP50 <= 0 || res.LatencyP99 > 500 {
				t.Errorf("latency p50 %.3f ms, p99 %.3f ms over %d samples for %d frames", res.LatencyP50, res.LatencyP99, res.LatencySamples, res.Delivered)
			}
		})
	}
}

func TestRunH2NeedsHTTPS(t *testing.T) {
	_, err := Run(context.Background(), Config{URL: "http://127.0.0.1:1/stream", Viewers: 1, Duration: time.Second, H2: true})
	if err == nil || !strings.Contains(err.Error(), "HTTP/2 needs https") {
		t.Errorf("err = %v, want HTTP/2 needs https", err)
	}
}

// TestRunH2Refused: a server that answers HTTP/1.1 only fails an HTTP/2 run.
func TestRunH2Refused(t *testing.T) {
	url := cameraServer(t, 20, 1000, false)
	url = strings.Replace(url, "http://", "https://", 1)
	_, err := Run(context.Background(), Config{URL: url, Viewers: 2, Duration: time.Second, H2: true})
	if err == nil || !strings.Contains(err.Error(), "no viewer could connect") {
		t.Errorf("err = %v, want no viewer could connect", err)
	}
}

func TestRunUnknownClient(t *testing.T) {
	_, err := Run(context.Background(), Config{URL: "http://127.0.0.1:1/", Viewers: 1, Duration: time.Second, Client: "curl"})
	if err == nil || !strings.Contains(err.Error(), `unknown client "curl"`) {
		t.Errorf("err = %v", err)
	}
}

// sizeRecorder records the largest read asked of it.
type sizeRecorder struct {
	r   io.Reader
	max int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.max = max(s.max, len(p))
	return s.r.Read(p)
}

func TestPartReaderMaxRead(t *testing.T) {
	data, boundary := stream(20, 19000)
	for _, maxRead := range []int{0, 1024, 2048, 4096} {
		rec := &sizeRecorder{r: strings.NewReader(string(data))}
		p := newPartReader(64<<10, nil)
		p.maxRead = maxRead
		p.reset(rec, boundary)
		n := 0
		var info partInfo
		for p.next(&info) == nil {
			if !info.final { // Close repeats the last part, marked final
				n++
			}
		}
		want := maxRead
		if want == 0 {
			want = 64 << 10
		}
		if n != 20 || rec.max != want {
			t.Errorf("maxRead %d: %d parts, largest read %d; want 20, %d", maxRead, n, rec.max, want)
		}
	}
}
