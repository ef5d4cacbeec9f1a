package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/testpattern"
)

// camera makes the frames and describes them on the page.
type camera struct {
	// frame returns the JPEG of frame n (from 1), published at time at.
	frame         func(n uint64, at time.Time) ([]byte, error)
	interval      time.Duration
	Width, Height int    // the frame size; 0 when the files differ
	About         string // one line for the page
}

// pattern makes the camera show the test pattern. It exits on a bad size
// or quality.
func (c *camera) pattern(width, height, quality int, fps float64) {
	p := testpattern.Pattern{Width: width, Height: height}
	if err := p.Validate(); err != nil {
		fail("-size %dx%d: %v", width, height, err)
	}
	if quality < 1 || quality > 100 {
		fail("-quality %d: want 1 to 100", quality)
	}
	c.frame = testpattern.NewEncoder(p, quality).Encode
	c.interval = time.Duration(float64(time.Second) / fps)
	c.Width, c.Height = width, height
	c.About = fmt.Sprintf("Test pattern, %dx%d JPEG (quality %d) at %v fps. The big number counts frames.",
		width, height, quality, fps)
}

// loadDir makes the camera play the *.jpg and *.jpeg files of dir, in
// name order, as they are. It exits if there are none, or if one is not a
// JPEG image.
func (c *camera) loadDir(dir string, fps float64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		fail("-dir: %v", err)
	}
	var files [][]byte
	for _, e := range entries { // sorted by name
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".jpg" && ext != ".jpeg") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			fail("-dir: %v", err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			fail("-dir: %s is not a JPEG image: %v", path, err)
		}
		if len(files) == 0 {
			c.Width, c.Height = cfg.Width, cfg.Height
		} else if cfg.Width != c.Width || cfg.Height != c.Height {
			c.Width, c.Height = 0, 0
		}
		files = append(files, b)
	}
	if len(files) == 0 {
		fail("-dir: no *.jpg or *.jpeg files in %s", dir)
	}
	files = slices.Clip(files)
	c.frame = func(n uint64, _ time.Time) ([]byte, error) { return files[(n-1)%uint64(len(files))], nil }
	c.interval = time.Duration(float64(time.Second) / fps)
	c.About = fmt.Sprintf("%d JPEG files from %s in a loop at %v fps, sent as they are.", len(files), dir, fps)
}

// produce publishes frame 1, 2, 3, ... to b, one every interval, until ctx
// is done. Each frame is made ahead of its time, so it goes out on time. A
// producer that falls behind goes on from now, not in a burst.
func (c *camera) produce(ctx context.Context, b *core.Broadcaster) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	at := time.Now()
	for n := uint64(1); ; n++ {
		jpg, err := c.frame(n, at)
		if err != nil {
			log.Printf("mjpeg: frame %d: %v", n, err)
			return
		}
		timer.Reset(time.Until(at))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		if err := b.Publish(core.JPEG(jpg)); err != nil { // never blocks
			if !errors.Is(err, core.ErrShutdown) {
				log.Printf("mjpeg: publish: %v", err)
			}
			return
		}
		if at = at.Add(c.interval); at.Before(time.Now()) {
			at = time.Now()
		}
	}
}
