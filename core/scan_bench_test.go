package core

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// scanBodies are the bodies the delimiter scan is measured on: a 640x480
// JPEG test card, 50 KB and 1 MB.
func scanBodies(b *testing.B) []struct {
	name string
	body []byte
} {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var card bytes.Buffer
	if err := jpeg.Encode(&card, img, &jpeg.Options{Quality: 75}); err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		body []byte
	}{
		{"jpeg640x480", card.Bytes()},
		{"50KB", benchBody(50_000)},
		{"1MB", benchBody(1 << 20)},
	}
}

// BenchmarkDelimiterScan measures the check that a body holds no
// delimiter: done once per published part for a Broadcaster, once per part
// and viewer for other sources.
func BenchmarkDelimiterScan(b *testing.B) {
	boundary := streamBoundary()
	for _, tc := range scanBodies(b) {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for range b.N {
				if err := checkBody(tc.body, boundary); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishScan measures Publish (scan and framing, no viewers) on
// the same bodies, for the scan's share of it.
func BenchmarkPublishScan(b *testing.B) {
	for _, tc := range scanBodies(b) {
		b.Run(tc.name, func(b *testing.B) {
			var bc Broadcaster
			p := JPEG(tc.body)
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for range b.N {
				if err := bc.Publish(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
