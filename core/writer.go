package core

import (
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
// before the close delimiter (see the package documentation). [Read] drops
// parts that carry it; a Writer never copies it from a caller's part.
const FinalHeader = "Mx-Final"

// ErrClosed is returned by [Writer.WritePart] after [Writer.Close].
var ErrClosed = errors.New("core: writer closed")

// ErrBoundary is returned (wrapped) by [Writer.SetBoundary] for a boundary
// that is not allowed.
var ErrBoundary = errors.New("invalid boundary")

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
	// ModeAdvance writes, right after each part's delimiter, the next part's
	// header block (its Content-Type, predicted from the part just sent, with
	// no Content-Length). Chromium shows part N only once part N+1's header
	// block has arrived, so this mode makes it show the newest part at once
	// rather than one behind. A part whose Content-Type differs from the
	// prediction is still written, under the predicted type.
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
	started  bool // opening delimiter written
	closed   bool
	last     Part
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

// WritePart writes p and the delimiter that ends it. An invalid header (see
// [Part.Validate]) is an error and nothing is written. After a write error,
// every call returns that error.
func (w *Writer) WritePart(p Part) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	fw := p.wire
	if fw != nil && fw.boundary != w.boundary {
		fw = nil
	}
	if fw == nil {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	b := w.buf[:0]
	if !w.started {
		b = append(append(append(b, "--"...), w.boundary...), "\r\n"...)
		if w.mode == ModeAdvance {
			b = appendAdvance(b, p)
		}
	}
	w.started = true
	w.last = p
	if fw != nil {
		frame := fw.length
		if w.mode == ModeAdvance {
			frame = fw.advance
		}
		if len(b) > 0 {
			w.buf = b
			if err := w.write(b); err != nil {
				return err
			}
		}
		return w.write(frame)
	}
	if w.mode == ModeLength {
		b = w.appendHeader(b, p, false)
	}
	if len(b)+len(p.Body)+len(w.boundary)+8 > coalesceMax {
		if err := w.write(b); err != nil {
			return err
		}
		if err := w.write(p.Body); err != nil {
			return err
		}
		b = appendDelim(b[:0], w.boundary, false)
	} else {
		b = appendDelim(append(b, p.Body...), w.boundary, false)
	}
	if w.mode == ModeAdvance {
		b = appendAdvance(b, p)
	}
	w.buf = b
	return w.write(b)
}

// Close ends the stream cleanly. When parts were written, it repeats the last
// one (in ModeLength with the header "Mx-Final: repeat") followed by the close
// delimiter, so that readers keep the last part and see no empty part;
// otherwise it writes only the close delimiter. It does not close the
// underlying writer. Calling Close again does nothing.
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

// appendAdvance appends the header block predicted for the part after p.
func appendAdvance(b []byte, p Part) []byte {
	return append(appendField(b, "Content-Type", p.ContentType()), "\r\n"...)
}

// appendDelim appends "\r\n--B\r\n", or the close delimiter "\r\n--B--\r\n".
func appendDelim(b []byte, boundary string, final bool) []byte {
	b = append(append(b, "\r\n--"...), boundary...)
	if final {
		b = append(b, "--"...)
	}
	return append(b, "\r\n"...)
}

// wire is a part framed once for one boundary, in both layouts, so that a
// Broadcaster's viewers write shared bytes with a single Write per part.
type wire struct {
	boundary string
	length   []byte // header block, body, delimiter
	advance  []byte // body, delimiter, next header block
}

// framed returns p with its wire framing for boundary attached. One buffer
// holds the header block, the body, the delimiter and the next header
// block: the length frame is its start, the advance frame its end. The body
// of the returned part shares that memory; p.Body is copied once.
func framed(p Part, boundary string) Part {
	var w Writer
	var small [512]byte
	hdr := w.appendHeader(small[:0], p, false)
	n := len(hdr) + len(p.Body) + len("\r\n--\r\nContent-Type: \r\n\r\n") + len(boundary) + len(p.ContentType())
	buf := append(make([]byte, 0, n), hdr...)
	buf = appendDelim(append(buf, p.Body...), boundary, false)
	end := len(buf)
	buf = appendAdvance(buf, p)
	start := len(hdr)
	body := buf[start : start+len(p.Body) : start+len(p.Body)]
	return Part{Header: p.Header, Body: body, wire: &wire{boundary: boundary, length: buf[:end:end], advance: buf[start:]}}
}
