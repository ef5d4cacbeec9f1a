// Package demo is the original mx demo as a core.Source: text, then an
// image, then HTML growing word by word, on a schedule. The gin and echo
// example apps serve it at "/".
package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"iter"
	"strings"
	"time"

	"github.com/mxreplace/mx/core"
)

// Step is one part of the demo and the pause that follows it.
type Step struct {
	Part  core.Part
	Pause time.Duration
}

// The demo's texts.
const (
	Text1    = "Hello,       text       "
	Text2    = "       plain      world!"
	Sentence = "Hello, the <i>wonderful</i> world of HTML!"
)

// PNG is the demo's image: a small valid PNG.
var PNG = makePNG()

func makePNG() []byte {
	const w, h = 48, 48
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: uint8(40 + 4*x), G: uint8(60 + 3*y), B: 200, A: 255}
			if (x-24)*(x-24)+(y-24)*(y-24) < 12*12 {
				c = color.NRGBA{R: 250, G: 200, B: 30, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// HTML returns the k-th HTML part's body (k = 0..7): the first min(k, 6)
// words of Sentence in a heading; the last one also shows the PNG.
func HTML(k int) string {
	words := strings.Fields(Sentence)
	s := "<!doctype html><h1>" + strings.Join(words[:min(k, len(words))], " ") + "</h1>"
	if k == 7 {
		s += `<img src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(PNG) + `">`
	}
	return s
}

// Steps returns the demo: six text/plain parts 500 ms apart, the PNG 500 ms
// later and a 1 s pause, then eight text/html parts 300 ms apart. The last
// part is marked Last, so the stream ends right after it.
func Steps() []Step {
	var s []Step
	for i := range 6 {
		t := Text1
		if i%2 == 1 {
			t = Text2
		}
		s = append(s, Step{core.Text(t), 500 * time.Millisecond})
	}
	s = append(s, Step{core.PNG(PNG), time.Second})
	for k := range 8 {
		s = append(s, Step{core.HTML(HTML(k)), 300 * time.Millisecond})
	}
	s[len(s)-1].Pause = 0
	s[len(s)-1].Part.Last = true // the close delimiter follows it at once
	return s
}

// Source streams Steps in real time. It returns as soon as ctx is done, also
// during a pause.
func Source(ctx context.Context) iter.Seq[core.Part] {
	return func(yield func(core.Part) bool) {
		t := time.NewTimer(0)
		defer t.Stop()
		<-t.C
		for _, s := range Steps() {
			if !yield(s.Part) {
				return
			}
			if s.Pause == 0 {
				continue
			}
			t.Reset(s.Pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}
}
