package mxtest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mxreplace/mx/examples/testpattern"
)

var testTime = time.Date(2025, 6, 1, 12, 34, 56, 789e6, time.UTC)

var testCounters = []uint64{0, 1, 9, 10, 123, 65535, 1<<20 + 7, testpattern.CounterMask, 1<<24 + 5, 0xabcdef, 9876543210}

// toRGBA converts any image to an *image.RGBA with origin (0, 0).
func toRGBA(m image.Image) *image.RGBA {
	b := m.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, m, b.Min, draw.Src)
	return out
}

// scaleBilinear resizes src to w x h with bilinear interpolation
// (pixel-centre aligned, 8-bit fixed-point weights).
func scaleBilinear(src *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	type tap struct{ i0, i1, f int } // source indices and weight of i1 (0-256)
	taps := func(n, sn int) []tap {
		t := make([]tap, n)
		for i := range t {
			f := (float64(i)+0.5)*float64(sn)/float64(n) - 0.5
			f = max(f, 0)
			i0 := min(int(f), sn-1)
			t[i] = tap{i0, min(i0+1, sn-1), int((f - float64(i0)) * 256)}
		}
		return t
	}
	xt, yt := taps(w, src.Rect.Dx()), taps(h, src.Rect.Dy())
	for y, ty := range yt {
		r0 := src.Pix[ty.i0*src.Stride:]
		r1 := src.Pix[ty.i1*src.Stride:]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for x, tx := range xt {
			a0, a1 := 4*tx.i0, 4*tx.i1
			for c := 0; c < 4; c++ {
				top := int(r0[a0+c])*(256-tx.f) + int(r0[a1+c])*tx.f
				bot := int(r1[a0+c])*(256-tx.f) + int(r1[a1+c])*tx.f
				out[4*x+c] = uint8((top*(256-ty.f) + bot*ty.f + 1<<15) >> 16)
			}
		}
	}
	return dst
}

// scaleNearest resizes src to w x h by nearest-neighbour sampling.
func scaleNearest(src *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	for y := 0; y < h; y++ {
		sy := y * sh / h
		for x := 0; x < w; x++ {
			sx := x * sw / w
			copy(dst.Pix[y*dst.Stride+4*x:y*dst.Stride+4*x+4], src.Pix[sy*src.Stride+4*sx:])
		}
	}
	return dst
}

// onCanvas draws m at (x, y) on a w x h canvas filled with bg.
func onCanvas(m image.Image, w, h, x, y int, bg color.Color) *image.RGBA {
	c := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(c, c.Rect, image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(c, m.Bounds().Sub(m.Bounds().Min).Add(image.Pt(x, y)), m, m.Bounds().Min, draw.Src)
	return c
}

func encodeDecode(t testing.TB, e *testpattern.Encoder, n uint64) image.Image {
	t.Helper()
	data, err := e.Encode(n, testTime)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	sizes := []testpattern.Pattern{{Width: 640, Height: 480}, {Width: 320, Height: 240}, {Width: 1280, Height: 720}}
	for _, p := range sizes {
		for _, q := range []int{30, 50, 90} {
			t.Run(fmt.Sprintf("%dx%d/q%d", p.Width, p.Height, q), func(t *testing.T) {
				t.Parallel()
				e := testpattern.NewEncoder(p, q)
				for i, n := range testCounters {
					if raceEnabled && i%3 != 0 {
						continue
					}
					m := encodeDecode(t, e, n)
					want := n & testpattern.CounterMask
					if got, ok := ReadCounter(m); !ok || got != want {
						t.Errorf("n=%d decoded: ReadCounter = %d, %v; want %d, true", n, got, ok, want)
					}
					if raceEnabled && i != 6 {
						continue
					}
					rgba := toRGBA(m)
					w, h := p.Width, p.Height
					cases := []struct {
						name string
						img  image.Image
					}{
						{"rgba", rgba},
						{"half", scaleBilinear(rgba, w/2, h/2)},
						{"1.5x", scaleBilinear(rgba, w*3/2, h*3/2)},
						{"nearest0.6x", scaleNearest(rgba, w*3/5, h*3/5)},
						{"white-canvas", onCanvas(rgba, w+w/3, h+h/2, 37, 53, color.White)},
						{"dark-canvas", onCanvas(scaleBilinear(rgba, w*3/4, h*3/4), w, h+100, 11, 29, color.RGBA{20, 20, 20, 255})},
					}
					for _, c := range cases {
						got, ok := ReadCounter(c.img)
						if !ok || got != want {
							t.Errorf("n=%d %s: ReadCounter = %d, %v; want %d, true", n, c.name, got, ok, want)
						}
					}
				}
			})
		}
	}
}

// TestBrowserPage imitates a Chromium screenshot of
// <body style="margin:0;background:#fff"><img style="display:block;width:640px;height:480px">
// for streams of several sizes, at window sizes 640x480 and larger, and at a
// device scale factor of 2.
func TestBrowserPage(t *testing.T) {
	for _, p := range []testpattern.Pattern{{Width: 640, Height: 480}, {Width: 1280, Height: 720}, {Width: 320, Height: 240}} {
		e := testpattern.NewEncoder(p, 50)
		n := uint64(4242 + p.Width)
		rgba := toRGBA(encodeDecode(t, e, n))
		for _, win := range []image.Point{{640, 480}, {800, 600}, {1280, 1024}} {
			for _, dpr := range []int{1, 2} {
				if raceEnabled && win.X*dpr > 800 {
					continue
				}
				shown := scaleBilinear(rgba, 640*dpr, 480*dpr)
				page := onCanvas(shown, win.X*dpr, win.Y*dpr, 0, 0, color.White)
				if got, ok := ReadCounter(page); !ok || got != n {
					t.Errorf("%dx%d stream in %v window, dpr %d: ReadCounter = %d, %v; want %d, true",
						p.Width, p.Height, win, dpr, got, ok, n)
				}
			}
		}
	}
}

func TestManyCounters(t *testing.T) {
	e := testpattern.NewEncoder(testpattern.Pattern{Width: 320, Height: 240}, 50)
	r := rand.New(rand.NewPCG(1, 2))
	count := 200
	if raceEnabled {
		count = 40
	}
	for i := 0; i < count; i++ {
		n := r.Uint64N(1 << 30)
		if i < count/2 {
			n = uint64(i)
		}
		m := encodeDecode(t, e, n)
		if got, ok := ReadCounter(m); !ok || got != n&testpattern.CounterMask {
			t.Errorf("n=%d: ReadCounter = %d, %v", n, got, ok)
		}
	}
}

func TestNoCode(t *testing.T) {
	p := testpattern.Pattern{Width: 640, Height: 480}
	img := p.NewImage()
	p.Render(img, 777, testTime)
	// Blank the code strip.
	draw.Draw(img, image.Rect(0, p.Height-stripHeight(p.Height), p.Width, p.Height), image.White, image.Point{}, draw.Src)
	noise := image.NewRGBA(image.Rect(0, 0, 640, 480))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(r.IntN(2) * 255)
	}
	// Random black/white blocks of code-cell size: many guard-like runs.
	blocks := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y += 10 {
		for x := 0; x < 640; x += 20 {
			if r.IntN(2) == 0 {
				draw.Draw(blocks, image.Rect(x, y, x+20, y+10), image.White, image.Point{}, draw.Src)
			}
		}
	}
	for name, m := range map[string]image.Image{
		"blank strip": img,
		"white":       onCanvas(image.NewRGBA(image.Rect(0, 0, 0, 0)), 300, 200, 0, 0, color.White),
		"small":       image.NewRGBA(image.Rect(0, 0, 10, 10)),
		"empty":       image.NewRGBA(image.Rect(0, 0, 0, 0)),
		"noise":       noise,
		"blocks":      blocks,
	} {
		if got, ok := ReadCounter(m); ok {
			t.Errorf("%s: ReadCounter = %d, true; want false", name, got)
		}
	}
}

// TestCorrupt checks that a damaged code is rejected, not misread.
// The layout of the code strip in examples/testpattern: its height, and
// the rows of its two lines in per mille of that height.
func stripHeight(h int) int { return (h + 4) / 8 }

const (
	lineA0, lineA1 = 100, 460
	lineB0, lineB1 = 540, 900
)

func TestCorrupt(t *testing.T) {
	p := testpattern.Pattern{Width: 640, Height: 480}
	img := p.NewImage()
	ys := p.Height - stripHeight(p.Height)
	hs := stripHeight(p.Height)
	for _, line := range []int{0, 1} {
		for k := 0; k < testpattern.CounterBits; k++ {
			p.Render(img, 123456, time.Time{})
			y0 := ys + hs*lineA0/1000
			y1 := ys + hs*lineA1/1000
			if line == 1 {
				y0, y1 = ys+hs*lineB0/1000, ys+hs*lineB1/1000
			}
			x0, x1 := (dataCell0+k)*p.Width/codeCells, (dataCell0+k+1)*p.Width/codeCells
			// Invert one data cell.
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					i := img.PixOffset(x, y)
					for c := 0; c < 3; c++ {
						img.Pix[i+c] = 255 - img.Pix[i+c]
					}
				}
			}
			if got, ok := ReadCounter(img); ok {
				t.Errorf("line %d cell %d inverted: ReadCounter = %d, true; want false", line, k, got)
			}
		}
	}
}

// TestTwoFrames checks that two different frames in one image give false
// rather than an arbitrary one of them, and one frame twice gives its number.
func TestTwoFrames(t *testing.T) {
	p := testpattern.Pattern{Width: 320, Height: 240}
	a, b := p.NewImage(), p.NewImage()
	p.Render(a, 1, testTime)
	p.Render(b, 2, testTime)
	page := onCanvas(a, 700, 300, 0, 0, color.White)
	draw.Draw(page, b.Rect.Add(image.Pt(360, 0)), b, image.Point{}, draw.Src)
	if got, ok := ReadCounter(page); ok {
		t.Errorf("two frames: ReadCounter = %d, true; want false", got)
	}
	draw.Draw(page, b.Rect.Add(image.Pt(360, 0)), a, image.Point{}, draw.Src)
	if got, ok := ReadCounter(page); !ok || got != 1 {
		t.Errorf("same frame twice: ReadCounter = %d, %v; want 1, true", got, ok)
	}
}

func TestRenderOffsetOrigin(t *testing.T) {
	p := testpattern.Pattern{Width: 320, Height: 240}
	img := image.NewRGBA(image.Rect(100, 50, 420, 290))
	p.Render(img, 31337, testTime)
	if got, ok := ReadCounter(img); !ok || got != 31337 {
		t.Errorf("ReadCounter = %d, %v; want 31337, true", got, ok)
	}
}

func BenchmarkReadCounter(b *testing.B) {
	e := testpattern.NewEncoder(testpattern.Pattern{Width: 640, Height: 480}, 80)
	data, _ := e.Encode(12345, testTime)
	m, _ := jpeg.Decode(bytes.NewReader(data))
	page := onCanvas(toRGBA(m), 1280, 1024, 0, 0, color.White)
	for _, c := range []struct {
		name string
		img  image.Image
	}{{"frame-ycbcr", m}, {"page1280x1024-rgba", page}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := ReadCounter(c.img); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
