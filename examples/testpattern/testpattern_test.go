package testpattern

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
	"time"
)

var testTime = time.Date(2025, 6, 1, 12, 34, 56, 789e6, time.UTC)

func TestCheckWordBijective(t *testing.T) {
	seen := make([]bool, 1<<CounterBits)
	for v := uint32(0); v <= CounterMask; v++ {
		c := CheckWord(v)
		if c > CounterMask || seen[c] {
			t.Fatalf("CheckWord(%d) = %d: out of range or repeated", v, c)
		}
		seen[c] = true
	}
}

func TestRenderNoAlloc(t *testing.T) {
	p := Pattern{640, 480}
	img := p.NewImage()
	n := uint64(0)
	allocs := testing.AllocsPerRun(20, func() {
		p.Render(img, n, testTime)
		n++
	})
	if allocs != 0 {
		t.Errorf("Render allocates %v times per frame", allocs)
	}
}

func TestEncoderAllocs(t *testing.T) {
	e := NewEncoder(Pattern{640, 480}, 80)
	e.Encode(0, testTime)
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := e.Encode(1, testTime); err != nil {
			t.Fatal(err)
		}
	})
	// image/jpeg itself allocates 5 small objects per call (Go 1.26).
	if allocs > 8 {
		t.Errorf("Encode allocates %v times per frame, want <= 8", allocs)
	}
}

func TestRenderPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"too small": func() { Pattern{100, 50}.Render(image.NewRGBA(image.Rect(0, 0, 100, 50)), 0, time.Time{}) },
		"mismatch":  func() { Pattern{640, 480}.Render(image.NewRGBA(image.Rect(0, 0, 320, 240)), 0, time.Time{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func BenchmarkJPEG640x480(b *testing.B) {
	e := NewEncoder(Pattern{640, 480}, 80)
	b.ReportAllocs()
	size := 0
	n := uint64(0)
	for b.Loop() {
		data, err := e.Encode(n, testTime)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
		n++
	}
	b.ReportMetric(float64(size), "jpeg-bytes")
}

func BenchmarkRender640x480(b *testing.B) {
	p := Pattern{640, 480}
	img := p.NewImage()
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		p.Render(img, n, testTime)
		n++
	}
}

func TestJPEG(t *testing.T) {
	data, err := Pattern{640, 480}.JPEG(99, testTime, 80)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := m.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Errorf("decoded %v, want 640x480", b)
	}
	t.Logf("640x480 quality 80: %d bytes", len(data))
	if _, err := (Pattern{10, 10}).JPEG(0, testTime, 80); err == nil {
		t.Error("JPEG of 10x10 pattern: no error")
	}
}
