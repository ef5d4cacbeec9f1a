package core

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
)

// Part is one part of a multipart/x-mixed-replace stream: a MIME header and a
// body.
//
// A Part is a value. The Header map and the Body slice are shared, not
// copied, when a Part is passed along. Neither may be modified after the Part
// has been handed to a [Writer], [Serve] or a [Broadcaster]. To change a
// part, give it a new Header map or a new Body: what goes on the wire is
// always the Header and Body of the Part written.
type Part struct {
	// Header holds the part's header fields. Content-Type should be set;
	// application/octet-stream is written when it is missing. Keys may be
	// in any case. Content-Length is ignored and replaced by the body's
	// length.
	Header textproto.MIMEHeader
	// Body is the part's content. It must not contain the stream's
	// delimiter (see [ErrDelimiter]).
	Body []byte
	// Last marks the final part of a stream. The close delimiter follows
	// its body at once, and nothing is written after it. Readers then see
	// exactly the parts written.
	Last bool

	// frame is the part framed once by a Broadcaster. A Writer uses it only
	// while Header and Body are still the ones that were framed.
	frame *frame
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
var ErrInvalidHeader = errors.New("core: invalid part header")

// NewPart returns a part with the given Content-Type and body. It returns an
// error wrapping [ErrInvalidHeader] when contentType holds a control
// character such as CR, LF or NUL.
func NewPart(contentType string, body []byte) (Part, error) {
	if err := checkValue("Content-Type", contentType); err != nil {
		return Part{}, err
	}
	return Part{Header: textproto.MIMEHeader{"Content-Type": {contentType}}, Body: body}, nil
}

func part(contentType string, body []byte) Part {
	return Part{Header: textproto.MIMEHeader{"Content-Type": {contentType}}, Body: body}
}

// Text returns a text/plain part (UTF-8) holding s.
func Text(s string) Part { return part(TypeText, []byte(s)) }

// HTML returns a text/html part (UTF-8) holding s.
func HTML(s string) Part { return part(TypeHTML, []byte(s)) }

// PNG returns an image/png part with the encoded image b.
func PNG(b []byte) Part { return part(TypePNG, b) }

// JPEG returns an image/jpeg part with the encoded image b.
func JPEG(b []byte) Part { return part(TypeJPEG, b) }

// ContentType returns the part's Content-Type, or application/octet-stream
// when it has none. The header key may be in any case.
func (p Part) ContentType() string {
	if v := headerValue(p.Header, "Content-Type"); v != "" {
		return v
	}
	return "application/octet-stream"
}

// headerValue returns the first value of the field named by the canonical
// key, whatever the case of the key in h.
func headerValue(h textproto.MIMEHeader, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Validate reports whether the part's header can be written. Every name must
// be an HTTP token, and no value may hold a control character other than
// tab (CR, LF and NUL among them). A name may appear once, in any case:
// "Content-Type" and "content-type" together are an error. The error wraps
// [ErrInvalidHeader]. Validate does not look at the body (see
// [ErrDelimiter]).
func (p Part) Validate() error {
	for name, values := range p.Header {
		if !validName(name) {
			return fmt.Errorf("%w: name %q", ErrInvalidHeader, name)
		}
		if c := textproto.CanonicalMIMEHeaderKey(name); c != name {
			if _, dup := p.Header[c]; dup {
				return fmt.Errorf("%w: %q and %q both set", ErrInvalidHeader, name, c)
			}
			for other := range p.Header {
				if other != name && other != c && strings.EqualFold(other, name) {
					return fmt.Errorf("%w: %q and %q both set", ErrInvalidHeader, name, other)
				}
			}
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
			return fmt.Errorf("%w: %s value %s", ErrInvalidHeader, name, strconv.Quote(v))
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
