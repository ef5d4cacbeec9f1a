package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/natsmx"
)

// produce publishes frame 1, 2, 3, ... through o at fps until ctx is done.
func produce(ctx context.Context, o *natsmx.Origin, frame func(int) ([]byte, error), fps float64) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
	defer tick.Stop()
	for n := 1; ; n++ {
		jpg, err := frame(n)
		if err == nil {
			err = o.Publish(core.JPEG(jpg))
		}
		if err != nil {
			log.Printf("cluster: frame %d: %v", n, err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// frames returns the JPEG frames source: the files of dir in name order, in
// a loop, as they are, or with dir empty a test pattern of size w x h.
func frames(dir string, w, h int) (func(n int) ([]byte, error), error) {
	if dir == "" {
		if w < 64 || h < 48 || w > 7680 || h > 4320 {
			return nil, fmt.Errorf("-size %dx%d: want 64x48 to 7680x4320", w, h)
		}
		return func(n int) ([]byte, error) { return pattern(n, w, h) }, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files [][]byte
	for _, e := range entries { // ReadDir sorts by name
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || ext != ".jpg" && ext != ".jpeg" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%s: not a JPEG image: %w", e.Name(), err)
		}
		files = append(files, b)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("-dir %s: no *.jpg or *.jpeg files", dir)
	}
	return func(n int) ([]byte, error) { return files[(n-1)%len(files)], nil }, nil
}

// segments holds, per digit, which of the seven segments of a seven-segment
// display are lit: bit 0 top, 1 top right, 2 bottom right, 3 bottom,
// 4 bottom left, 5 top left, 6 middle.
var segments = [10]uint8{0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f}

// pattern draws frame n: a bar that moves across a dark card, and n in big
// seven-segment digits.
func pattern(n, w, h int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill := func(r image.Rectangle, c color.RGBA) { draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src) }
	fill(img.Bounds(), color.RGBA{21, 23, 28, 255})
	x := n * 8 % w
	fill(image.Rect(x, 0, x+w/16, h), color.RGBA{60, 140, 220, 255})
	s := h / 5 // digit height is 2s, width s, stroke s/6
	t := s / 6
	x0, y0 := w/16, h/2-s
	for _, d := range strconv.Itoa(n) {
		on := segments[d-'0']
		for i, r := range []image.Rectangle{
			image.Rect(0, 0, s, t), image.Rect(s-t, 0, s, s), image.Rect(s-t, s, s, 2*s),
			image.Rect(0, 2*s-t, s, 2*s), image.Rect(0, s, t, 2*s), image.Rect(0, 0, t, s),
			image.Rect(0, s-t/2, s, s+t-t/2),
		} {
			if on&(1<<i) != 0 {
				fill(r.Add(image.Pt(x0, y0)), color.RGBA{255, 255, 255, 255})
			}
		}
		x0 += s + s/2
	}
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75})
	return buf.Bytes(), err
}
