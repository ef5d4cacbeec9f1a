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
	"github.com/mxreplace/mx/internal/testpattern"
)

// frames makes the JPEG of frame n (n counts from 1) that will be published
// at time at.
type frames interface {
	frame(n uint64, at time.Time) ([]byte, error)
}

// patternFrames renders the test pattern: the frame number in big digits
// and in a machine-readable strip, and the publish time.
type patternFrames struct{ enc *testpattern.Encoder }

func (p patternFrames) frame(n uint64, at time.Time) ([]byte, error) { return p.enc.Encode(n, at) }

// dirFrames plays JPEG files, read once at start, in name order in a loop.
type dirFrames struct{ files []jpegFile }

type jpegFile struct {
	name          string
	data          []byte
	width, height int
}

func (d dirFrames) frame(n uint64, _ time.Time) ([]byte, error) {
	return d.files[(n-1)%uint64(len(d.files))].data, nil
}

// loadDir reads the *.jpg and *.jpeg files of dir (any case), sorted by
// name. Each must start like a JPEG image; the bytes are kept as they are.
func loadDir(dir string) ([]jpegFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("-dir: %w", err)
	}
	var files []jpegFile
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".jpg" && ext != ".jpeg") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("-dir: %w", err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("-dir: %s is not a JPEG image: %w", path, err)
		}
		files = append(files, jpegFile{name: e.Name(), data: data, width: cfg.Width, height: cfg.Height})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("-dir: no *.jpg or *.jpeg files in %s", dir)
	}
	slices.SortFunc(files, func(a, b jpegFile) int { return strings.Compare(a.name, b.name) })
	return files, nil
}

// produce publishes frame 1, 2, 3, ... to cam, one every interval, until ctx
// is done or cam shuts down. Each frame is made ahead of its time, so it is
// published on time; a producer that falls behind continues from now
// rather than catching up in a burst.
func produce(ctx context.Context, cam *core.Broadcaster, src frames, interval time.Duration, logger *log.Logger) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	at := time.Now()
	for n := uint64(1); ; n++ {
		jpg, err := src.frame(n, at)
		if err != nil {
			logger.Printf("mjpeg: frame %d: %v", n, err)
			return
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
		if err := cam.Publish(core.JPEG(jpg)); err != nil {
			if !errors.Is(err, core.ErrShutdown) {
				logger.Printf("mjpeg: publish: %v", err)
			}
			return
		}
		at = at.Add(interval)
		if now := time.Now(); at.Before(now) {
			at = now
		}
	}
}
