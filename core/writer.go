package core

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// MediaType is the media type of a multipart/x-mixed-replace response.
const MediaType = "multipart/x-mixed-replace"

// FinalHeader marks the repeat of the last part that [Writer.Close] writes
// before the close delimiter, when the stream ends without a part marked
// [Part.Last]. [Read] drops parts that carry it. A Writer never copies it
// from a caller's part.
const FinalHeader = "Mx-Final"

// ErrClosed is returned by [Writer.WritePart] after [Writer.Close] or after
// a part marked [Part.Last].
var ErrClosed = errors.New("core: writer closed")

// ErrBoundary is returned (wrapped) by [Writer.SetBoundary] for a boundary
// that is not allowed.
var ErrBoundary = errors.New("core: invalid boundary")

// ErrDelimiter is returned (wrapped) for a body that contains its stream's
// dash-boundary "--B", for boundary B. Readers would split such a body into
// forged parts: RFC 2046 readers at "\r\n--B" or at a leading "--B",
// lenient ones (Chromium among them) at "--B" anywhere. Nothing of the part
// is written, and the stream can go on.
var ErrDelimiter = errors.New("core: body contains the stream's delimiter")

// checkBody returns an error wrapping ErrDelimiter when body contains the
// dash-boundary of boundary.
func checkBody(body []byte, boundary string) error {
	if len(body) < 2+len(boundary) {
		return nil
	}
	var d [2 + 70]byte
	dash := append(append(d[:0], "--"...), boundary...)
	if i := bytes.Index(body, dash); i >= 0 {
		return fmt.Errorf("%w: %q at byte %d", ErrDelimiter, string(dash), i)
	}
	return nil
}

// coalesceMax is the largest framed part a Writer copies into one buffer to
// hand it to the underlying writer in a single Write; larger parts are
// written in three Writes (header, body, delimiter).
const coalesceMax = 64 << 10

// Mode is the wire layout of a stream; browsers differ in when they show a
// part (see [ModeLength] and [ModeAdvance]).
type Mode int

const (
	// ModeAuto lets [Serve] pick the mode per request (see [ModeFor]). A
	// Writer treats it as ModeLength.
	ModeAuto Mode = iota
	// ModeLength writes each part with Content-Type and Content-Length,
	// followed at once by the delimiter. Firefox, ffmpeg, VLC, curl, Go's
	// mime/multipart and camera clients show or hand on a part as soon as it
	// is complete.
	ModeLength
	// ModeAdvance writes, right after each part's delimiter, the next
	// part's header block: its Content-Type, announced as the type of the
	// part just sent, with no Content-Length. Chromium and WebKit show part
	// N only once part N+1's header block has arrived, so this mode makes
	// them show the newest part at once rather than one behind. When the
	// next part's type differs, the announced part ends empty and the next
	// part gets its own header block: no part goes out under another's type.
	ModeAdvance
)

// String returns the mode's name: "auto", "length" or "advance".
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeLength:
		return "length"
	case ModeAdvance:
		return "advance"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses a mode name as returned by [Mode.String].
func ParseMode(s string) (Mode, error) {
	for m := ModeAuto; m <= ModeAdvance; m++ {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return ModeAuto, fmt.Errorf("core: unknown mode %q (want auto, length or advance)", s)
}

// Writer frames parts as a multipart/x-mixed-replace body on an io.Writer.
//
// Each part is written with its delimiter ("body\r\n--B\r\n") so that a
// reader knows it is complete at once; small parts go out in a single Write.
// A Writer is not safe for concurrent use. It does not flush: over HTTP use
// [Serve], which flushes every part.
type Writer struct {
	w        io.Writer
	boundary string
	mode     Mode
	buf      []byte // reused frame buffer
	keys     []string
	started  bool   // opening delimiter written
	closed   bool   // close delimiter written
	last     Part   // for the repeat in Close
	next     string // in ModeAdvance, the Content-Type announced for the next part
	err      error
}

// NewWriter returns a Writer on w with a random boundary (32 hex digits from
// crypto/rand) in [ModeLength].
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, boundary: randomBoundary(), mode: ModeLength}
}

func randomBoundary() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error
	return hex.EncodeToString(b[:])
}

// Boundary returns the Writer's boundary.
func (w *Writer) Boundary() string { return w.boundary }

// ContentType returns the response Content-Type, with the boundary as its
// only parameter, unquoted: "multipart/x-mixed-replace; boundary=B".
func (w *Writer) ContentType() string { return MediaType + "; boundary=" + w.boundary }

// SetBoundary replaces the random boundary. It must be called before the
// first part. The boundary must be 1 to 70 characters of RFC 2046's set that
// need no quoting in a header parameter (letters, digits and ' + _ - .) and
// must not start with "--" (the delimiter adds those). Otherwise the error
// wraps [ErrBoundary].
func (w *Writer) SetBoundary(b string) error {
	if w.started {
		return errors.New("core: SetBoundary called after writing")
	}
	if err := checkBoundary(b); err != nil {
		return err
	}
	w.boundary = b
	return nil
}

func checkBoundary(b string) error {
	if len(b) < 1 || len(b) > 70 {
		return fmt.Errorf("core: %w: %q has %d characters, want 1 to 70", ErrBoundary, b, len(b))
	}
	if strings.HasPrefix(b, "--") {
		return fmt.Errorf("core: %w: %q starts with \"--\"", ErrBoundary, b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '\'', c == '+', c == '_', c == '-', c == '.':
		default:
			return fmt.Errorf("core: %w: %q has %q (allowed: letters, digits and ' + _ - .)", ErrBoundary, b, c)
		}
	}
	return nil
}

// SetMode sets the wire layout. It must be called before the first part;
// [ModeAuto] means [ModeLength].
func (w *Writer) SetMode(m Mode) error {
	if w.started {
		return errors.New("core: SetMode called after writing")
	}
	if m < ModeAuto || m > ModeAdvance {
		return fmt.Errorf("core: unknown mode %d", int(m))
	}
	if m == ModeAuto {
		m = ModeLength
	}
	w.mode = m
	return nil
}

// Mode returns the wire layout.
func (w *Writer) Mode() Mode { return w.mode }

// WritePart writes p and the delimiter that ends it, or the close
// delimiter when p.Last is set. A part that cannot be written safely is an
// error, and nothing of it is written: an invalid header (see
// [Part.Validate], [ErrInvalidHeader]) or a body holding the delimiter
// ([ErrDelimiter]). The stream can go on after such an error. After a
// write error, every call returns that error.
//
// In [ModeAdvance], a part whose Content-Type differs from the one
// announced in advance is not written under the announced type: the
// announced part is ended empty, and p follows with its own full header
// block.
func (w *Writer) WritePart(p Part) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	f := p.frame
	var ct string
	if f.fits(p, w.boundary) {
		ct = f.contentType
	} else {
		f, ct = nil, p.ContentType()
	}
	if w.started && w.mode == ModeAdvance && ct != w.next {
		f = nil
	}
	if f == nil {
		if err := p.Validate(); err != nil {
			return err
		}
		if err := checkBody(p.Body, w.boundary); err != nil {
			return err
		}
	}
	b := w.buf[:0]
	header := w.mode == ModeLength
	if !w.started {
		b = append(append(append(b, "--"...), w.boundary...), "\r\n"...)
		if w.mode == ModeAdvance {
			b = appendAdvance(b, ct)
		}
	} else if w.mode == ModeAdvance && ct != w.next {
		b = appendDelim(b, w.boundary, false) // the announced part ends empty
		header = true
	}
	w.started = true
	w.last = p
	w.next = ct
	if f != nil {
		frame := f.length
		if w.mode == ModeAdvance {
			frame = f.advance
		}
		if len(b) > 0 {
			w.buf = b
			if err := w.write(b); err != nil {
				return err
			}
		}
		return w.write(frame)
	}
	if header {
		b = w.appendHeader(b, p, false)
	}
	if len(b)+len(p.Body)+len(w.boundary)+8 > coalesceMax {
		if err := w.write(b); err != nil {
			return err
		}
		if err := w.write(p.Body); err != nil {
			return err
		}
		b = appendDelim(b[:0], w.boundary, p.Last)
	} else {
		b = appendDelim(append(b, p.Body...), w.boundary, p.Last)
	}
	if p.Last {
		w.closed = true
		w.last = Part{}
	} else if w.mode == ModeAdvance {
		b = appendAdvance(b, ct)
	}
	w.buf = b
	return w.write(b)
}

// Close ends the stream cleanly, if a part marked [Part.Last] has not
// already done so. With no part written, it writes the close delimiter
// alone. Otherwise a reader expects another part, so Close repeats the last
// one (in ModeLength marked "Mx-Final: repeat") and ends it with the close
// delimiter: readers keep showing the last part and see no empty part.
// It does not close the underlying writer. Calling Close again does nothing.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	b := w.buf[:0]
	if !w.started {
		b = append(append(append(b, "--"...), w.boundary...), "--\r\n"...)
		return w.write(b)
	}
	p := w.last
	if w.mode == ModeLength {
		b = w.appendHeader(b, p, true)
		if err := w.write(b); err != nil {
			return err
		}
	}
	if err := w.write(p.Body); err != nil {
		return err
	}
	w.last = Part{}
	return w.write(appendDelim(b[:0], w.boundary, true))
}

func (w *Writer) write(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		w.err = err
		return err
	}
	return nil
}

// appendHeader appends p's header block: Content-Type, Content-Length, the
// other fields sorted by name, the final marker if asked, and the blank line.
func (w *Writer) appendHeader(b []byte, p Part, final bool) []byte {
	b = appendField(b, "Content-Type", p.ContentType())
	b = strconv.AppendInt(append(b, "Content-Length: "...), int64(len(p.Body)), 10)
	b = append(b, "\r\n"...)
	w.keys = w.keys[:0]
	for k := range p.Header {
		if !reserved(k) {
			w.keys = append(w.keys, k)
		}
	}
	slices.Sort(w.keys)
	for _, k := range w.keys {
		for _, v := range p.Header[k] {
			b = appendField(b, k, v)
		}
	}
	if final {
		b = appendField(b, FinalHeader, "repeat")
	}
	return append(b, "\r\n"...)
}

func reserved(k string) bool {
	return strings.EqualFold(k, "Content-Type") || strings.EqualFold(k, "Content-Length") ||
		strings.EqualFold(k, FinalHeader)
}

func appendField(b []byte, k, v string) []byte {
	return append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
}

// appendAdvance appends the header block announced for the next part.
func appendAdvance(b []byte, contentType string) []byte {
	return append(appendField(b, "Content-Type", contentType), "\r\n"...)
}

// appendDelim appends "\r\n--B\r\n", or the close delimiter "\r\n--B--\r\n".
func appendDelim(b []byte, boundary string, final bool) []byte {
	b = append(append(b, "\r\n--"...), boundary...)
	if final {
		b = append(b, "--"...)
	}
	return append(b, "\r\n"...)
}
