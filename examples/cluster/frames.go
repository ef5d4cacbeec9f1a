package main

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/testpattern"
	"github.com/mxreplace/mx/natsmx"
)

// produce publishes frame 1, 2, 3, ... through o at fps until ctx is done.
// Each frame is made ahead of its time, so it goes out on time; a producer
// that falls behind goes on from now, not in a burst.
func produce(ctx context.Context, o *natsmx.Origin, frame func(uint64, time.Time) ([]byte, error), fps float64) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	at := time.Now()
	for n := uint64(1); ; n++ {
		jpg, err := frame(n, at)
		if err != nil {
			log.Printf("cluster: frame %d: %v", n, err)
			return
		}
		timer.Reset(time.Until(at))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		if err := o.Publish(core.JPEG(jpg)); err != nil { // never waits on NATS
			log.Printf("cluster: frame %d: %v", n, err)
		}
		if at = at.Add(time.Duration(float64(time.Second) / fps)); at.Before(time.Now()) {
			at = time.Now()
		}
	}
}

// frames returns the JPEG of frame n (from 1), to be published at time at:
// the files of dir in name order, in a loop, as they are, or with dir
// empty the test pattern of size w x h.
func frames(dir string, w, h int) (func(n uint64, at time.Time) ([]byte, error), error) {
	if dir == "" {
		p := testpattern.Pattern{Width: w, Height: h}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("-size %dx%d: %w", w, h, err)
		}
		return testpattern.NewEncoder(p, 75).Encode, nil
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
	return func(n uint64, _ time.Time) ([]byte, error) { return files[(n-1)%uint64(len(files))], nil }, nil
}
