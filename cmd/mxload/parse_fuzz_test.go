package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// FuzzPartReader feeds arbitrary bytes to the load tool's parser: it must
// not panic and must end (a part consumes at least one byte).
func FuzzPartReader(f *testing.F) {
	f.Add([]byte("--B\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\nX-Timestamp: 1700000000.000001\r\n\r\nabc\r\n--B\r\n"), "B", 64)
	f.Add([]byte("preamble\r\n--B\r\n\r\nno length\r\n--B--\r\n"), "B", 16)
	f.Add([]byte("--B\r\nContent-Length: 99999999999999999999\r\n\r\nx"), "B", 4096)
	f.Add([]byte("--B\n\nlf\n--B\n\n--B--"), "B", 8)
	f.Fuzz(func(t *testing.T, data []byte, boundary string, size int) {
		if boundary == "" || size < 1 || size > 1<<16 {
			t.Skip()
		}
		p := newPartReader(max(size, 2*len(boundary)+16), nil)
		p.reset(bytes.NewReader(data), boundary)
		var info partInfo
		for n := 0; ; n++ {
			if n > len(data) {
				t.Fatalf("%d parts from %d bytes", n, len(data))
			}
			if err := p.next(&info); err != nil {
				return
			}
		}
	})
}

// FuzzPartReaderRoundTrip writes parts with core.Writer and checks that the
// parser finds each one with its timestamp, in both wire modes.
func FuzzPartReaderRoundTrip(f *testing.F) {
	f.Add([]byte("\xff\xd8\r\n--x\r\n\xff\xd9"), []byte("second"), int64(1700000000123456), false, 4096)
	f.Add([]byte(""), []byte("\r\n--"), int64(0), true, 64)
	f.Fuzz(func(t *testing.T, body1, body2 []byte, ts int64, advance bool, size int) {
		if ts < 0 || ts > 1<<50 || size < 64 || size > 1<<16 {
			t.Skip()
		}
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		if advance {
			w.SetMode(core.ModeAdvance)
		}
		stamp := fmt.Sprintf("%d.%06d", ts/1e6, ts%1e6)
		for _, b := range [][]byte{body1, body2} {
			p := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "X-Timestamp": {stamp}}, Body: b}
			if err := w.WritePart(p); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		p := newPartReader(size, nil)
		p.reset(&buf, w.Boundary())
		var info partInfo
		var parts, finals int
		for {
			err := p.next(&info)
			if errors.Is(err, errStreamEnd) {
				break
			}
			if err != nil {
				t.Fatalf("after %d parts: %v", parts, err)
			}
			if info.final {
				finals++
				continue
			}
			parts++
			if !advance && info.ts != ts {
				t.Fatalf("part %d: timestamp %d, want %d", parts, info.ts, ts)
			}
			if info.at.IsZero() || time.Since(info.at) > time.Minute {
				t.Fatalf("part %d: arrival time %v", parts, info.at)
			}
		}
		// Advance mode sends header blocks ahead: no timestamps, no final
		// marker, and the last part comes twice.
		want, wantFinals := 2, 1
		if advance {
			want, wantFinals = 3, 0
		}
		if parts != want || finals != wantFinals {
			t.Fatalf("parts %d, finals %d; want %d and %d", parts, finals, want, wantFinals)
		}
	})
}
