// Package testpattern draws a moving test card for live camera (MJPEG)
// demos. The frame number shows in big digits, so a screenshot tells
// which frame a viewer shows.
//
// Every frame shows, from top to bottom: reference colour bars, a sweep
// track with a bar that moves one step per frame, the frame number in big
// seven-segment digits (about a quarter of the frame height) with the wall
// time in small text, and a black code strip along the bottom edge.
//
// The code strip carries the low [CounterBits] bits of the frame number in
// a form that survives JPEG compression and scaling: two lines of 32 equal
// cells (each 1/32 of the frame width), black or white. Both lines are
//
//	black border | white black white | 24 data cells, MSB first | white black white | black border
//
// The upper line holds the counter, the lower line [CheckWord] of it. A
// reader that checks both lines rejects a misread instead of returning a
// wrong number.
package testpattern

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strconv"
	"time"
)

// CounterBits is the number of low-order bits of the frame number that the
// code strip carries.
const CounterBits = 24

// CounterMask masks a frame number down to the part carried by the code
// strip.
const CounterMask = 1<<CounterBits - 1

// MinWidth and MinHeight are the smallest frame size [Pattern.Render]
// accepts. Code cells (1/32 of the width) are then at least 4 pixels
// wide, so a frame this small stays readable at half size.
const (
	MinWidth  = 128
	MinHeight = 96
)

// Pattern is a test card of a fixed size in pixels. The zero value is not
// usable; set Width and Height (at least [MinWidth] x [MinHeight]).
// A Pattern has no state: it may be copied and used concurrently.
type Pattern struct {
	Width, Height int
}

// NewImage returns a new Width x Height image suitable for [Pattern.Render].
func (p Pattern) NewImage() *image.RGBA {
	return image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
}

// Validate returns an error if p's size is unusable.
func (p Pattern) Validate() error {
	if p.Width < MinWidth || p.Height < MinHeight || p.Width >= 1<<16 || p.Height >= 1<<16 {
		return fmt.Errorf("testpattern: invalid size %dx%d (need %dx%d to 65535x65535)",
			p.Width, p.Height, MinWidth, MinHeight)
	}
	return nil
}

// Colours of the card.
var (
	colBlack  = color.RGBA{0, 0, 0, 255}
	colWhite  = color.RGBA{255, 255, 255, 255}
	colTrack  = color.RGBA{14, 16, 20, 255}
	colTick   = color.RGBA{110, 116, 128, 255}
	colSweep  = color.RGBA{255, 214, 64, 255}
	colLit    = color.RGBA{250, 250, 250, 255}
	colUnlit  = color.RGBA{36, 42, 56, 255}
	colLabel  = color.RGBA{150, 162, 184, 255}
	colTime   = color.RGBA{120, 220, 255, 255}
	colPanel0 = color.RGBA{30, 36, 52, 255}
	colPanel1 = color.RGBA{12, 14, 20, 255}
)

// colorBars are the classic 75% colour bars.
var colorBars = [...]color.RGBA{
	{192, 192, 192, 255},
	{192, 192, 0, 255},
	{0, 192, 192, 255},
	{0, 192, 0, 255},
	{192, 0, 192, 255},
	{192, 0, 0, 255},
	{0, 0, 192, 255},
}

// Layout, as fractions of the frame height (per mille).
const (
	barsEnd    = 120 // colour bars: [0, barsEnd)
	trackEnd   = 200 // sweep track: [barsEnd, trackEnd)
	sweepSteps = 64  // frames for one sweep of the moving bar
)

// stripHeight is the height of the code strip at the bottom of an h-pixel
// frame.
func stripHeight(h int) int { return (h + 4) / 8 }

// Code line placement inside the strip, per mille of the strip height.
const (
	lineA0, lineA1 = 100, 460
	lineB0, lineB1 = 540, 900
)

// Render draws frame n, taken at wall time t, into dst, which must be
// Width x Height (as returned by [Pattern.NewImage]; any origin). A zero t
// omits the time. Render does not allocate, so dst can be reused for every
// frame. It panics if p is invalid or dst has the wrong size.
func (p Pattern) Render(dst *image.RGBA, n uint64, t time.Time) {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if s := dst.Rect.Size(); s.X != p.Width || s.Y != p.Height {
		panic(fmt.Sprintf("testpattern: Render into %dx%d image, want %dx%d", s.X, s.Y, p.Width, p.Height))
	}
	W, H := p.Width, p.Height
	yBars := H * barsEnd / 1000
	yTrack := H * trackEnd / 1000
	yStrip := H - stripHeight(H)

	// Colour bars.
	for i, c := range colorBars {
		fillRect(dst, i*W/len(colorBars), 0, (i+1)*W/len(colorBars), yBars, c)
	}

	// Sweep track with ticks and the moving bar.
	fillRect(dst, 0, yBars, W, yTrack, colTrack)
	th := yTrack - yBars
	for k := 0; k <= 16; k++ {
		x := k * (W - 1) / 16
		tl := th / 4
		if k%4 == 0 {
			tl = th / 2
		}
		fillRect(dst, x, yBars, x+1+W/640, yBars+tl, colTick)
	}
	bw := W / 24
	pos := int(n % sweepSteps)
	bx := pos * (W - bw) / (sweepSteps - 1)
	fillRect(dst, bx, yBars+th/8, bx+bw, yTrack-th/8, colSweep)

	// Panel background: a vertical gradient.
	for y := yTrack; y < yStrip; y++ {
		f := (y - yTrack) * 256 / max(1, yStrip-yTrack)
		fillRect(dst, 0, y, W, y+1, mix(colPanel0, colPanel1, f))
	}

	// Small text: title, size, label and time.
	s := max(1, H/150)
	margin := max(2, H/60)
	drawText(dst, margin, yTrack+margin, s, "MX TEST PATTERN", colLabel)
	var sz [24]byte
	b := strconv.AppendInt(sz[:0], int64(W), 10)
	b = append(b, 'X')
	b = strconv.AppendInt(b, int64(H), 10)
	drawText(dst, W-margin-textWidth(len(b), s), yTrack+margin, s, b, colLabel)

	// Big number, centred, with "FRAME" above and the time below.
	var num [20]byte
	digits := strconv.AppendUint(num[:0], n, 10)
	dh := H / 4
	dw := dh * 11 / 20
	gap := dw * 3 / 10
	total := len(digits)*(dw+gap) - gap
	if maxW := W - 2*margin; total > maxW { // shrink long numbers to fit
		dh = dh * maxW / total
		dw = dh * 11 / 20
		gap = dw * 3 / 10
		total = len(digits)*(dw+gap) - gap
	}
	vgap := H / 25
	block := 7*s + vgap + H/4 + vgap + 7*s
	y0 := yTrack + (yStrip-yTrack-block)/2
	drawText(dst, (W-textWidth(5, s))/2, y0, s, "FRAME", colLabel)
	yd := y0 + 7*s + vgap + (H/4-dh)/2
	x := (W - total) / 2
	for _, d := range digits {
		drawDigit(dst, x, yd, dw, dh, d-'0')
		x += dw + gap
	}
	if !t.IsZero() {
		var tb [32]byte
		ts := appendTime(tb[:0], t)
		drawText(dst, (W-textWidth(len(ts), s))/2, y0+7*s+vgap+H/4+vgap, s, ts, colTime)
	}

	// Code strip.
	fillRect(dst, 0, yStrip, W, H, colBlack)
	hs := H - yStrip
	a := uint32(n) & CounterMask
	drawCodeLine(dst, W, yStrip+hs*lineA0/1000, yStrip+hs*lineA1/1000, a)
	drawCodeLine(dst, W, yStrip+hs*lineB0/1000, yStrip+hs*lineB1/1000, CheckWord(a))
}

// Code line geometry, in cells of 1/codeCells of the width.
const (
	codeCells = 32
	dataCell0 = 4  // first data cell
	endBorder = 31 // the right border cell
)

// drawCodeLine draws one line of the code strip into rows [y0, y1): the
// border cells stay black, the guard cells are white-black-white and data
// cell k is white if bit 23-k of v is set.
func drawCodeLine(dst *image.RGBA, w, y0, y1 int, v uint32) {
	cell := func(k int) {
		fillRect(dst, (k*w+codeCells/2)/codeCells, y0, ((k+1)*w+codeCells/2)/codeCells, y1, colWhite)
	}
	cell(1)
	cell(3)
	for k := 0; k < CounterBits; k++ {
		if v>>(CounterBits-1-k)&1 != 0 {
			cell(dataCell0 + k)
		}
	}
	cell(dataCell0 + CounterBits)     // 28
	cell(dataCell0 + CounterBits + 2) // 30
}

// CheckWord is the content of the second code line for counter v. It is a
// bijective 24-bit mix: no two counters share a check word. So a corrupted
// read of either line almost never pairs up.
func CheckWord(v uint32) uint32 {
	v = (v ^ 0x5a3c96) & CounterMask
	v = (v * 0x9e3779) & CounterMask // odd multipliers are bijective mod 2^24
	v ^= v >> 13
	v = (v * 0x2c1b3d) & CounterMask
	v ^= v >> 11
	return v
}

// appendTime appends t as "2006-01-02 15:04:05.000" without allocating.
func appendTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, int(mo), 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	b = append(b, ' ')
	b = appendPad(b, hh, 2)
	b = append(b, ':')
	b = appendPad(b, mm, 2)
	b = append(b, ':')
	b = appendPad(b, ss, 2)
	b = append(b, '.')
	return appendPad(b, ms, 3)
}

// appendPad appends v in decimal, zero-padded to width digits.
func appendPad(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// mix blends a and b: f = 0 gives a, f = 256 gives b.
func mix(a, b color.RGBA, f int) color.RGBA {
	m := func(x, y uint8) uint8 { return uint8((int(x)*(256-f) + int(y)*f) >> 8) }
	return color.RGBA{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B), 255}
}

// fillRect fills [x0,x1) x [y0,y1), relative to dst.Rect.Min and clipped to
// dst, with c.
func fillRect(dst *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	r := image.Rect(x0, y0, x1, y1).Add(dst.Rect.Min).Intersect(dst.Rect)
	if r.Empty() {
		return
	}
	i0 := dst.PixOffset(r.Min.X, r.Min.Y)
	row := dst.Pix[i0 : i0+4*r.Dx() : i0+4*r.Dx()]
	for i := 0; i < len(row); i += 4 {
		row[i], row[i+1], row[i+2], row[i+3] = c.R, c.G, c.B, c.A
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		j := i0 + (y-r.Min.Y)*dst.Stride
		copy(dst.Pix[j:j+len(row)], row)
	}
}

// Seven-segment digits: bits a..g = 0..6 for segments top, upper right,
// lower right, bottom, lower left, upper left, middle.
var sevenSeg = [10]uint8{
	0b0111111, 0b0000110, 0b1011011, 0b1001111, 0b1100110,
	0b1101101, 0b1111101, 0b0000111, 0b1111111, 0b1101111,
}

// drawDigit draws decimal digit d as a w x h seven-segment digit with its
// top left corner at (x, y); unlit segments are drawn dimly.
func drawDigit(dst *image.RGBA, x, y, w, h int, d byte) {
	t := max(2, h/9)   // segment thickness
	g := max(1, t/6)   // gap between segments
	mid := y + (h-t)/2 // top of the middle segment
	segs := [7][4]int{ // x0, y0, x1, y1
		{x + t + g, y, x + w - t - g, y + t},           // a
		{x + w - t, y + t + g, x + w, mid - g},         // b
		{x + w - t, mid + t + g, x + w, y + h - t - g}, // c
		{x + t + g, y + h - t, x + w - t - g, y + h},   // d
		{x, mid + t + g, x + t, y + h - t - g},         // e
		{x, y + t + g, x + t, mid - g},                 // f
		{x + t + g, mid, x + w - t - g, mid + t},       // g
	}
	for i, s := range segs {
		c := colUnlit
		if sevenSeg[d]>>i&1 != 0 {
			c = colLit
		}
		fillRect(dst, s[0], s[1], s[2], s[3], c)
	}
}

// textWidth is the width in pixels of n characters of the 5x7 font at
// scale s.
func textWidth(n, s int) int {
	if n == 0 {
		return 0
	}
	return (6*n - 1) * s
}

// drawText draws text in the 5x7 font scaled by s, with its top left corner
// at (x, y). Characters without a glyph are drawn as spaces.
func drawText[T ~string | ~[]byte](dst *image.RGBA, x, y, s int, text T, c color.RGBA) {
	for i := 0; i < len(text); i++ {
		ch := text[i]
		if ch < 128 {
			g := &font[ch]
			for row := 0; row < 7; row++ {
				bits := g[row]
				for col := 0; col < 5; col++ {
					if bits>>(4-col)&1 != 0 {
						fillRect(dst, x+col*s, y+row*s, x+(col+1)*s, y+(row+1)*s, c)
					}
				}
			}
		}
		x += 6 * s
	}
}

// font is a 5x7 bitmap font: 7 rows of 5 bits, most significant bit left.
var font [128][7]uint8

func init() {
	glyphs := map[byte]string{
		'0': ".###. #...# #..## #.#.# ##..# #...# .###.",
		'1': "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
		'2': ".###. #...# ....# ...#. ..#.. .#... #####",
		'3': "##### ...#. ..#.. ...#. ....# #...# .###.",
		'4': "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
		'5': "##### #.... ####. ....# ....# #...# .###.",
		'6': "..##. .#... #.... ####. #...# #...# .###.",
		'7': "##### ....# ...#. ..#.. .#... .#... .#...",
		'8': ".###. #...# #...# .###. #...# #...# .###.",
		'9': ".###. #...# #...# .#### ....# ...#. .##..",
		'A': ".###. #...# #...# ##### #...# #...# #...#",
		'B': "####. #...# #...# ####. #...# #...# ####.",
		'C': ".###. #...# #.... #.... #.... #...# .###.",
		'D': "####. #...# #...# #...# #...# #...# ####.",
		'E': "##### #.... #.... ####. #.... #.... #####",
		'F': "##### #.... #.... ####. #.... #.... #....",
		'G': ".###. #...# #.... #.### #...# #...# .####",
		'H': "#...# #...# #...# ##### #...# #...# #...#",
		'I': ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
		'J': "..### ...#. ...#. ...#. ...#. #..#. .##..",
		'K': "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
		'L': "#.... #.... #.... #.... #.... #.... #####",
		'M': "#...# ##.## #.#.# #.#.# #...# #...# #...#",
		'N': "#...# #...# ##..# #.#.# #..## #...# #...#",
		'O': ".###. #...# #...# #...# #...# #...# .###.",
		'P': "####. #...# #...# ####. #.... #.... #....",
		'Q': ".###. #...# #...# #...# #.#.# #..#. .##.#",
		'R': "####. #...# #...# ####. #.#.. #..#. #...#",
		'S': ".#### #.... #.... .###. ....# ....# ####.",
		'T': "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
		'U': "#...# #...# #...# #...# #...# #...# .###.",
		'V': "#...# #...# #...# #...# #...# .#.#. ..#..",
		'W': "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
		'X': "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
		'Y': "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
		'Z': "##### ....# ...#. ..#.. .#... #.... #####",
		':': "..... .##.. .##.. ..... .##.. .##.. .....",
		'.': "..... ..... ..... ..... ..... .##.. .##..",
		'-': "..... ..... ..... ##### ..... ..... .....",
		'/': "....# ....# ...#. ..#.. .#... #.... #....",
	}
	for ch, g := range glyphs {
		for row := 0; row < 7; row++ {
			var bits uint8
			for col := 0; col < 5; col++ {
				if g[row*6+col] == '#' {
					bits |= 1 << (4 - col)
				}
			}
			font[ch][row] = bits
		}
	}
}

// Encoder renders frames of a Pattern and encodes them as JPEG, reusing its
// image and buffer between frames. It is not safe for concurrent use.
type Encoder struct {
	pattern Pattern
	opts    jpeg.Options
	img     *image.RGBA
	buf     flushBuffer
}

// flushBuffer is a bytes.Buffer with a no-op Flush, which lets image/jpeg
// write to it directly instead of through a new bufio.Writer per frame.
type flushBuffer struct{ bytes.Buffer }

// Flush does nothing.
func (*flushBuffer) Flush() error { return nil }

// NewEncoder returns an Encoder for p at the given JPEG quality (1-100;
// values outside are clamped by image/jpeg). It panics if p is invalid.
func NewEncoder(p Pattern, quality int) *Encoder {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return &Encoder{pattern: p, opts: jpeg.Options{Quality: quality}, img: p.NewImage()}
}

// Pattern returns the pattern e renders.
func (e *Encoder) Pattern() Pattern { return e.pattern }

// Encode renders frame n at wall time t and returns it as a new JPEG byte
// slice, which the caller owns (it may be shared and kept). Besides that
// slice, only image/jpeg's own few small allocations (5 per call in
// Go 1.26) happen per frame; the image and buffer are reused.
func (e *Encoder) Encode(n uint64, t time.Time) ([]byte, error) {
	e.pattern.Render(e.img, n, t)
	e.buf.Reset()
	if err := jpeg.Encode(&e.buf, e.img, &e.opts); err != nil {
		return nil, err
	}
	return bytes.Clone(e.buf.Bytes()), nil
}

// Image returns the image of the last frame rendered by Encode. It is
// overwritten by the next call to Encode.
func (e *Encoder) Image() *image.RGBA { return e.img }

// JPEG renders frame n at wall time t and encodes it at the given quality.
// It allocates a new image per call; use an [Encoder] for streams.
func (p Pattern) JPEG(n uint64, t time.Time, quality int) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return NewEncoder(p, quality).Encode(n, t)
}
