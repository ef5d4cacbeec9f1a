package core

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
)

// Part is one part of a multipart/x-mixed-replace stream: a MIME header and a
// body.
//
// A Part is a value; the Header map and the Body slice are shared, not copied,
// when a Part is passed along. Neither may be modified after the Part has been
// handed to a [Writer], [Serve] or a [Broadcaster].
type Part struct {
	// Header holds the part's header fields. Content-Type should be set
	// (application/octet-stream is written when it is missing); any
	// Content-Length is ignored and replaced by the body's length.
	Header textproto.MIMEHeader
	// Body is the part's content.
	Body []byte

	// wire is the part framed once for a boundary, set by a Broadcaster so
	// that every viewer writes the same bytes without framing them again.
	wire *wire
}

// Common part content types.
const (
	TypeText = "text/plain; charset=utf-8"
	TypeHTML = "text/html; charset=utf-8"
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
)

// ErrInvalidHeader is returned (wrapped) for a header name or value that
// cannot be written safely: an empty or non-token name, or a control
// character (CR, LF, NUL or any other but tab) in a value.
var ErrInvalidHeader = errors.New("invalid part header")

// NewPart returns a part with the given Content-Type and body. It returns an
// error wrapping [ErrInvalidHeader] when contentType holds a control
// character such as CR, LF or NUL.
func NewPart(contentType string, body []byte) (Part, error) {
	if err := checkValue("Content-Type", contentType); err != nil {
		return Part{}, err
	}
	return Part{Header: textproto.MIMEHeader{"Content-Type": {contentType}}, Body: body}, nil
}

func mustPart(contentType string, body []byte) Part {
	return Part{Header: textproto.MIMEHeader{"Content-Type": {contentType}}, Body: body}
}

// Text returns a text/plain part (UTF-8) holding s.
func Text(s string) Part { return mustPart(TypeText, []byte(s)) }

// HTML returns a text/html part (UTF-8) holding s.
func HTML(s string) Part { return mustPart(TypeHTML, []byte(s)) }

// PNG returns an image/png part with the encoded image b.
func PNG(b []byte) Part { return mustPart(TypePNG, b) }

// JPEG returns an image/jpeg part with the encoded image b.
func JPEG(b []byte) Part { return mustPart(TypeJPEG, b) }

// ContentType returns the part's Content-Type, or application/octet-stream
// when it has none.
func (p Part) ContentType() string {
	if v := p.Header.Get("Content-Type"); v != "" {
		return v
	}
	return "application/octet-stream"
}

// Validate reports whether the part's header can be written: every name must
// be an HTTP token and no value may hold a control character other than tab
// (CR, LF and NUL among them). The error wraps
// [ErrInvalidHeader].
func (p Part) Validate() error {
	for name, values := range p.Header {
		if !validName(name) {
			return fmt.Errorf("core: %w: name %q", ErrInvalidHeader, name)
		}
		for _, v := range values {
			if err := checkValue(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkValue(name, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("core: %w: %s value %s", ErrInvalidHeader, name, strconv.Quote(v))
		}
	}
	return nil
}

// validName reports whether s is an RFC 7230 token.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
