package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"

	"github.com/mxreplace/mx/core"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// camera serves a Broadcaster with timestamps that publishes distinct
// frames of about size bytes at fps until the test ends.
func camera(t *testing.T, fps float64, size int) string {
	t.Helper()
	return cameraServer(t, fps, size, false)
}

// cameraServer is camera, over HTTP/2 with TLS and a certificate of
// httptest's if h2.
func cameraServer(t *testing.T, fps float64, size int, h2 bool) string {
	t.Helper()
	var b core.Broadcaster
	b.Timestamps = true
	srv := httptest.NewUnstartedServer(core.Handler(b.Subscribe, nil))
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
		defer tick.Stop()
		for i := 0; ; i++ {
			body := bytes.Repeat([]byte{byte(i)}, size)
			copy(body, strconv.Itoa(i)) // distinct bodies
			b.Publish(core.JPEG(body))
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		b.Shutdown(sctx)
		srv.Close()
	})
	return srv.URL
}

func TestRun(t *testing.T) {
	const fps = 25.0
	url := camera(t, fps, 8000)
	for _, parser := range []string{ParserFast, ParserCore} {
		t.Run(parser, func(t *testing.T) {
			var progress bytes.Buffer
			res, err := Run(context.Background(), Config{
				URL:      url,
				Viewers:  20,
				Duration: 2 * time.Second,
				Ramp:     200 * time.Millisecond,
				Warmup:   300 * time.Millisecond,
				Parser:   parser,
				Progress: &progress,
			})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := json.MarshalIndent(res, "", "  ")
			t.Logf("%s\nprogress:\n%s", out, progress.String())
			if res.Connected != 20 || res.Errors != 0 || res.Disconnects != 0 {
				t.Errorf("connected %d, errors %d, disconnects %d; want 20, 0, 0", res.Connected, res.Errors, res.Disconnects)
			}
			if !res.Timestamps {
				t.Fatal("no timestamps seen")
			}
			if res.Share.Min < 0.9 || res.Share.Max > 1 {
				t.Errorf("share %+v, want within [0.9, 1]", res.Share)
			}
			if res.FPS.Median < 0.8*fps || res.FPS.Median > 1.1*fps {
				t.Errorf("median fps %.2f, want about %g", res.FPS.Median, fps)
			}
			if res.PublishFPS < 0.8*fps || res.PublishFPS > 1.1*fps {
				t.Errorf("publish fps %.2f, want about %g", res.PublishFPS, fps)
			}
			if res.LatencyP50 <= 0 || res.LatencyP50 > 200 || res.LatencyMax < res.LatencyP99 {
				t.Errorf("latency p50 %.3f ms, p99 %.3f, max %.3f: want small and positive", res.LatencyP50, res.LatencyP99, res.LatencyMax)
			}
			if res.NegativeLatency != 0 {
				t.Errorf("%d negative latencies", res.NegativeLatency)
			}
			if res.Bytes <= 0 || res.BytesPerSec < 20*fps*8000*0.8 {
				t.Errorf("bytes %d (%.0f/s), want about %g/s", res.Bytes, res.BytesPerSec, 20*fps*8000)
			}
			if res.Delivered < int64(res.Frames)*18 {
				t.Errorf("delivered %d frames of %d to 20 viewers", res.Delivered, res.Frames)
			}
			if !strings.Contains(progress.String(), "measure viewers 20/20") {
				t.Errorf("no progress line while measuring:\n%s", progress.String())
			}
		})
	}
}

// TestRunInterrupted cancels a run in its window: the result covers the
// window up to then.
func TestRunInterrupted(t *testing.T) {
	url := camera(t, 20, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{URL: url, Viewers: 5, Duration: 10 * time.Second, Warmup: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.WindowSec < 0.8 || res.WindowSec > 1.2 {
		t.Errorf("window %.2fs, want about 1s", res.WindowSec)
	}
	if res.FPS.Median < 14 || res.FPS.Median > 22 {
		t.Errorf("median fps %.1f, want about 20", res.FPS.Median)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, Config{URL: url, Viewers: 2, Duration: time.Second, Warmup: time.Second}); err == nil {
		t.Error("a run stopped in its warmup returned no error")
	}
}

func TestRunNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	start := time.Now()
	_, err := Run(context.Background(), Config{URL: srv.URL + "/stream", Viewers: 20, Duration: 5 * time.Second, Ramp: time.Second})
	if err == nil || !strings.Contains(err.Error(), "no viewer could connect") || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("err = %v, want no viewer could connect ... 404 Not Found", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to give up", d)
	}
	t.Log(err)
}

func TestRunNotMultipart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<img src=/stream>")
	}))
	defer srv.Close()
	_, err := Run(context.Background(), Config{URL: srv.URL, Viewers: 3, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), `Content-Type "text/html"`) {
		t.Fatalf("err = %v, want a Content-Type error", err)
	}
}

func TestCLI(t *testing.T) {
	url := camera(t, 20, 1000)
	var stdout, stderr bytes.Buffer
	err := run([]string{"-url", url, "-n", "3", "-d", "1s", "-ramp", "0s", "-warmup", "200ms", "-json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.Viewers != 3 || res.Frames == 0 || res.LatencySamples == 0 {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(stderr.String(), "measure viewers 3/3") {
		t.Errorf("stderr:\n%s", stderr.String())
	}

	stdout.Reset()
	if err := run([]string{"-url", url, "-n", "2", "-d", "500ms", "-ramp", "0s", "-warmup", "0s", "-q"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fps/viewer:", "share:", "latency:", "throughput:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout.String())
		}
	}

	for _, args := range [][]string{{"-n", "x"}, {"extra"}, {"-buf", "10"}, {"-read", "-1"}, {"-h2-streams", "0"}} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		} else if _, ok := err.(usageError); !ok {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	if err := run([]string{"-n", "0"}, io.Discard, io.Discard); err == nil {
		t.Error("-n 0 accepted")
	}
	if err := run([]string{"-url", url, "-client", "curl"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "unknown client") {
		t.Errorf("-client curl: %v", err)
	}

	stdout.Reset()
	if err := run([]string{"-url", url, "-n", "2", "-d", "500ms", "-ramp", "0s", "-warmup", "0s", "-q", "-client", "small"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "client:      small (fast parser, reads of at most 2048 bytes), HTTP/1.1, 2 connections opened"; !strings.Contains(stdout.String(), want) {
		t.Errorf("text output lacks %q:\n%s", want, stdout.String())
	}
}

// part is a part for the reader tests.
type part struct {
	ts    int64
	final bool
}

func readAll(t *testing.T, r io.Reader, boundary string) ([]part, error) {
	t.Helper()
	p := newPartReader(4096, nil)
	p.reset(r, boundary)
	var parts []part
	var info partInfo
	for {
		err := p.next(&info)
		if err != nil {
			return parts, err
		}
		if info.at.IsZero() {
			t.Error("part without receipt time")
		}
		parts = append(parts, part{info.ts, info.final})
	}
}

func TestPartReader(t *testing.T) {
	body := func(n int) string { return strings.Repeat("\xff\xd8 --B\r\n", n/8) } // looks like a delimiter, but is not at a line start
	mx := "--B\r\n" +
		"Content-Type: image/jpeg\r\nContent-Length: 800\r\nX-Timestamp: 1700000000.000001\r\n\r\n" + body(800) + "\r\n--B\r\n" +
		"Content-Type: image/jpeg\r\nContent-Length: 8000\r\nX-Timestamp: 1700000000.5\r\n\r\n" + body(8000) + "\r\n--B\r\n" +
		"Content-Type: image/jpeg\r\nContent-Length: 8000\r\nMx-Final: repeat\r\nX-Timestamp: 1700000000.5\r\n\r\n" + body(8000) + "\r\n--B--\r\n"
	advance := "--B\r\nContent-Type: image/jpeg\r\n\r\n" +
		body(800) + "\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n" +
		body(9000) + "\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n"
	tests := []struct {
		name     string
		stream   string
		boundary string
		want     []part
		wantErr  error
	}{
		{"mx", mx, "B", []part{{1700000000000001, false}, {1700000000500000, false}, {1700000000500000, true}}, errStreamEnd},
		{"preamble and padding", "junk\r\n\r\n--B \t\r\nX-Timestamp: 2\r\nContent-Length: 3\r\n\r\nabc\r\n--B--  \r\n", "B", []part{{2000000, false}}, errStreamEnd},
		{"LF only", "--B\nContent-Length: 3\n\nabc\n--B\nContent-Length: 1\n\nd\n--B--\n", "B", []part{{-1, false}, {-1, false}}, errStreamEnd},
		{"advance mode: no length", advance, "B", []part{{-1, false}, {-1, false}}, io.ErrUnexpectedEOF},
		{"wrong length", "--B\r\nContent-Length: 2\r\n\r\nabcdef\r\n--B\r\nContent-Length: 1\r\n\r\nx\r\n--B--\r\n", "B", []part{{-1, false}, {-1, false}}, errStreamEnd},
		{"extra blank line", "--B\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n--B--\r\n", "B", []part{{-1, false}}, errStreamEnd},
		{"cut in body", "--B\r\nContent-Length: 3\r\n\r\nab", "B", nil, io.ErrUnexpectedEOF},
		{"empty stream", "--B--\r\n", "B", nil, errStreamEnd},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/onebyte=%v", tt.name, oneByte), func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.stream)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				got, err := readAll(t, r, tt.boundary)
				if err != tt.wantErr {
					t.Errorf("error %v, want %v", err, tt.wantErr)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("parts %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// TestPartReaderMultipartWriter reads what mime/multipart.Writer writes, as
// the handwritten servers do: a part completes only when the next starts.
func TestPartReaderMultipartWriter(t *testing.T) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for i := 1; i <= 3; i++ {
			w, _ := mw.CreatePart(textproto.MIMEHeader{
				"Content-Length": {"5000"},
				"X-Timestamp":    {fmt.Sprintf("%d.000000", i)},
			})
			w.Write(bytes.Repeat([]byte{'x'}, 5000))
		}
		mw.Close()
		pw.Close()
	}()
	got, err := readAll(t, pr, mw.Boundary())
	if err != errStreamEnd || fmt.Sprint(got) != "[{1000000 false} {2000000 false} {3000000 false}]" {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]int64{
		"1700000000.123456":   1700000000123456,
		"1700000000.1":        1700000000100000,
		"1700000000":          1700000000000000,
		"1700000000.12345678": 1700000000123456,
		"1.000001":            1000001,
		"":                    -1,
		"x":                   -1,
		"1.2x":                -1,
		"-1.5":                -1,
		"1.1234567x":          -1,
	} {
		if got := parseTimestamp([]byte(in)); got != want {
			t.Errorf("parseTimestamp(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestHist(t *testing.T) {
	var h hist
	for i := int64(1); i <= 10000; i++ {
		h.add(i)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got, n := h.quantile(tt.q)
		if n != 10000 || got < tt.want*97/100 || got > tt.want*103/100 {
			t.Errorf("quantile(%g) = %v (n %d), want %v within 3%%", tt.q, got, n, tt.want)
		}
	}
	for v := int64(0); v < 1<<20; v = v*5/4 + 1 {
		i := bucketOf(v)
		if mid := bucketMid(i); float64(mid) < float64(v)*0.96 || float64(mid) > float64(v)*1.04+1 {
			t.Errorf("value %d: bucket %d has mid %d", v, i, mid)
		}
	}
	if bucketOf(1<<62) != histBuckets-1 || bucketOf(-5) != 0 {
		t.Error("out of range values not clamped")
	}
}

// stream returns a multipart stream of n parts of size bytes, as mx writes
// it.
func stream(n, size int) ([]byte, string) {
	var buf bytes.Buffer
	mw := core.NewWriter(&buf)
	body := bytes.Repeat([]byte{0xAA}, size)
	for i := range n {
		p := core.JPEG(body)
		p.Header.Set("X-Timestamp", fmt.Sprintf("%d.%06d", 1700000000+i/30, i%30))
		mw.WritePart(p)
	}
	mw.Close()
	return buf.Bytes(), mw.Boundary()
}

// The parsers' cost per part of 19 KB (a 640x480 test-pattern JPEG), read
// in 64 KiB reads.
func BenchmarkParser(b *testing.B) {
	data, boundary := stream(100, 19000)
	b.Run("fast", func(b *testing.B) {
		p := newPartReader(64<<10, func(int, time.Time) {})
		var info partInfo
		b.SetBytes(int64(len(data) / 100))
		b.ReportAllocs()
		r := bytes.NewReader(data)
		p.reset(r, boundary)
		for b.Loop() {
			if err := p.next(&info); err != nil {
				r.Reset(data)
				p.reset(r, boundary)
			}
		}
	})
	b.Run("core", func(b *testing.B) {
		b.SetBytes(int64(len(data) / 100))
		b.ReportAllocs()
		r := bytes.NewReader(data)
		for {
			r.Reset(data)
			for p, err := range core.Read(r, boundary, nil) {
				if err != nil {
					b.Fatal(err)
				}
				_ = p.Header.Get("X-Timestamp")
				if !b.Loop() {
					return
				}
			}
		}
	})
}
