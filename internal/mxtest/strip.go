package mxtest

import (
	"image"
	"slices"
	"sort"

	"github.com/mxreplace/mx/examples/testpattern"
)

// The code strip of examples/testpattern, in cells of 1/32 of the width:
// a black border, white black white, 24 data cells, white black white, and
// a black border.
const (
	codeCells = 32
	dataCell0 = 4 // the first data cell
)

// Reader tuning.
const (
	threshold = 128 // luma: below is black, at or above is white
	margin    = 24  // a data cell's mean luma must be this far from threshold
	minCell   = 2.0 // smallest cell width in pixels that is tried
)

// ReadCounter finds the code strip of a test pattern frame in img. It
// returns the frame number modulo 2^24 (n & testpattern.CounterMask). ok
// is false if no strip whose two lines agree was found. A misread line is rejected, not returned: a random misread passes
// the check with probability about 2^-24.
//
// img may be the decoded frame itself or, for example, a browser
// screenshot with the frame drawn anywhere inside a larger white or dark
// page. The frame may be scaled, also by different factors horizontally and
// vertically, as long as it stays upright (no rotation, mirroring or
// perspective), its code cells are at least 2 pixels wide (the frame at
// least 64 pixels wide) and each code line covers at least one clean pixel
// row. The whole width of the strip must be visible, including the left
// and right black border cells, though these may merge into a dark page.
// Each pixel row is decoded on its own, like a 1D barcode scanner; if
// several frames with different numbers are visible, the number read in
// the most rows wins and a tie gives false.
//
// It scans every pixel row of img, so it takes time proportional to the
// pixel count: a few milliseconds per megapixel for *image.YCbCr (as
// returned by image/jpeg), *image.RGBA, *image.NRGBA (as returned by
// image/png) and *image.Gray; other image types are much slower.
func ReadCounter(img image.Image) (uint64, bool) {
	b := img.Bounds()
	if b.Dx() < codeCells*minCell || b.Dy() < 1 {
		return 0, false
	}
	row := make([]uint8, b.Dx())
	runs := make([]run, 0, 64)
	var values []uint32
	for y := b.Min.Y; y < b.Max.Y; y++ {
		lumaRow(img, y, row)
		runs = appendRuns(runs[:0], row)
		values = decodeRow(values, row, runs)
	}
	return pickPair(values)
}

// run is a maximal horizontal run of black or of white pixels.
type run struct {
	x, n  int // start and length
	black bool
}

// appendRuns appends the black and white runs of row to runs.
func appendRuns(runs []run, row []uint8) []run {
	if len(row) == 0 {
		return runs
	}
	start, black := 0, row[0] < threshold
	for x, l := range row {
		if (l < threshold) != black {
			runs = append(runs, run{x: start, n: x - start, black: black})
			start, black = x, !black
		}
	}
	return append(runs, run{x: start, n: len(row) - start, black: black})
}

// near reports whether a run of length n could be one cell of width u.
func near(n int, u float64) bool {
	d := float64(n) - u
	tol := 1 + 0.35*u
	return d <= tol && -d <= tol
}

// decodeRow looks for code lines in one pixel row and appends the 24-bit
// values of those it can read to values.
//
// A code line, in cells, is: black border (0), white (1), black (2),
// white (3), data (4-27), white (28), black (29), white (30), black
// border (31). Cells 1, 2, 29 and 30 are bounded by cells of the other
// colour, so they appear as runs of exactly one cell width whatever the
// data; the start of cell 1 and the start of cell 31 are 30 cells apart and
// give the cell width precisely.
func decodeRow(values []uint32, row []uint8, runs []run) []uint32 {
	for i := 0; i+3 < len(runs); i++ {
		border, w1, k2, w3 := runs[i], runs[i+1], runs[i+2], runs[i+3]
		if !border.black {
			continue
		}
		u0 := float64(w1.n+k2.n) / 2
		if u0 < minCell || !near(w1.n, u0) || !near(k2.n, u0) ||
			float64(border.n) < 0.5*u0 || float64(w3.n) < 0.5*u0 {
			continue
		}
		x0 := float64(w1.x)
		lo, hi := x0+30*u0*0.8, x0+30*u0*1.2
		// Candidates for the right border run start in [lo, hi].
		m := sort.Search(len(runs), func(k int) bool { return float64(runs[k].x) >= lo })
		for ; m < len(runs) && float64(runs[m].x) <= hi; m++ {
			j := m - 2 // cell 29
			if !runs[m].black || j-1 < i+3 {
				continue
			}
			u := (float64(runs[m].x) - x0) / 30
			if !near(w1.n, u) || !near(k2.n, u) || !near(runs[j].n, u) || !near(runs[j+1].n, u) ||
				float64(runs[m].n) < 0.5*u || float64(runs[j-1].n) < 0.5*u {
				continue
			}
			if v, ok := readCells(row, x0, u); ok {
				values = append(values, v)
			}
		}
	}
	return values
}

// readCells reads the 24 data cells of a code line whose cell 1 starts at
// x0 and whose cells are u pixels wide, sampling the middle half of each.
func readCells(row []uint8, x0, u float64) (uint32, bool) {
	var v uint32
	for k := 0; k < testpattern.CounterBits; k++ {
		c := x0 + (float64(dataCell0+k)-0.5)*u // centre of cell dataCell0+k
		a, b := int(c-u/4+0.5), int(c+u/4+0.5)
		if b <= a {
			b = a + 1
		}
		if a < 0 || b > len(row) {
			return 0, false
		}
		sum := 0
		for _, l := range row[a:b] {
			sum += int(l)
		}
		mean := sum / (b - a)
		switch {
		case mean >= threshold+margin:
			v = v<<1 | 1
		case mean < threshold-margin:
			v <<= 1
		default:
			return 0, false
		}
	}
	return v, true
}

// pickPair finds, among the values read from all rows, the counter whose
// check word was also read, preferring the pair read most often.
func pickPair(values []uint32) (uint64, bool) {
	slices.Sort(values)
	type count struct {
		v uint32
		n int
	}
	var counts []count
	for _, v := range values {
		if len(counts) > 0 && counts[len(counts)-1].v == v {
			counts[len(counts)-1].n++
		} else {
			counts = append(counts, count{v, 1})
		}
	}
	best, bestScore, tie := uint32(0), 0, false
	for _, c := range counts {
		cw := testpattern.CheckWord(c.v)
		k, found := slices.BinarySearchFunc(counts, cw, func(a count, v uint32) int {
			switch {
			case a.v < v:
				return -1
			case a.v > v:
				return 1
			}
			return 0
		})
		if !found {
			continue
		}
		score := c.n + counts[k].n
		if cw == c.v { // both lines identical: need two reads
			if c.n < 2 {
				continue
			}
			score = c.n
		}
		switch {
		case score > bestScore:
			best, bestScore, tie = c.v, score, false
		case score == bestScore && c.v != best:
			tie = true
		}
	}
	if bestScore == 0 || tie {
		return 0, false
	}
	return uint64(best), true
}

// lumaRow stores the luma (BT.601, 0-255) of pixel row y of img in row.
func lumaRow(img image.Image, y int, row []uint8) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		i := m.YOffset(b.Min.X, y)
		copy(row, m.Y[i:i+len(row)])
	case *image.Gray:
		i := m.PixOffset(b.Min.X, y)
		copy(row, m.Pix[i:i+len(row)])
	case *image.RGBA:
		rgbLuma(row, m.Pix[m.PixOffset(b.Min.X, y):])
	case *image.NRGBA:
		rgbLuma(row, m.Pix[m.PixOffset(b.Min.X, y):])
	default:
		for x := range row {
			r, g, bb, _ := img.At(b.Min.X+x, y).RGBA()
			row[x] = uint8((19595*r + 38470*g + 7471*bb + 1<<15) >> 24)
		}
	}
}

// rgbLuma converts len(row) 4-byte RGB(A) pixels of pix to luma.
func rgbLuma(row []uint8, pix []uint8) {
	pix = pix[:4*len(row)]
	for x := range row {
		p := pix[4*x:]
		r, g, b := uint32(p[0]), uint32(p[1]), uint32(p[2])
		row[x] = uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
	}
}
