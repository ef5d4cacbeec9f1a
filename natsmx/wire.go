package natsmx

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/mxreplace/mx/core"
)

// timestampSize is the size of an X-Timestamp field as a NATS header line
// ("X-Timestamp: 1733385145.123456\r\n"), reserved when the Origin's
// Broadcaster adds one.
const timestampSize = len(core.TimestampHeader) + len(": 1733385145.123456\r\n")

// message returns p as a NATS message on subject: p's header fields as
// NATS headers (the value slices are shared), OriginHeader, SeqHeader and,
// for a last part, LastHeader, and p's body as the payload.
func message(subject string, p core.Part, origin string, seq uint64) *nats.Msg {
	h := make(nats.Header, len(p.Header)+3)
	for k, v := range p.Header {
		h[k] = v
	}
	h[OriginHeader] = []string{origin}
	h[SeqHeader] = []string{strconv.FormatUint(seq, 10)}
	if p.Last {
		h[LastHeader] = []string{"1"}
	}
	return &nats.Msg{Subject: subject, Header: h, Data: p.Body}
}

// messageSize returns the size NATS counts against max_payload for p sent
// with OriginHeader origin and SeqHeader seq, and extra more header bytes:
// the header block ("NATS/1.0\r\n", a line per value, "\r\n") and the
// payload.
func messageSize(p core.Part, origin string, seq uint64, extra int) int {
	n := len("NATS/1.0\r\n\r\n") + extra
	n += len(OriginHeader) + len(origin) + 4
	n += len(SeqHeader) + len(strconv.FormatUint(seq, 10)) + 4
	if p.Last {
		n += len(LastHeader) + len("1") + 4
	}
	for k, vs := range p.Header {
		for _, v := range vs {
			n += len(k) + len(textproto.TrimString(v)) + 4
		}
	}
	return n + len(p.Body)
}

// decode returns the part a message carries, with OriginHeader, SeqHeader
// and LastHeader removed (the last sets p.Last), and the first two's
// values. It takes the message's header map
// (header names canonical) and payload as they are. seq is 0 for a message
// without SeqHeader.
func decode(m *nats.Msg) (p core.Part, origin string, seq uint64, err error) {
	h := make(textproto.MIMEHeader, len(m.Header))
	for k, v := range m.Header {
		switch ck := textproto.CanonicalMIMEHeaderKey(k); ck {
		case OriginHeader:
			if len(v) > 0 {
				origin = v[0]
			}
		case SeqHeader:
			if len(v) > 0 {
				if seq, err = strconv.ParseUint(strings.TrimSpace(v[0]), 10, 64); err != nil {
					return core.Part{}, "", 0, fmt.Errorf("natsmx: %s %q: %w", SeqHeader, v[0], err)
				}
			}
		case LastHeader:
			p.Last = true
		default:
			h[ck] = append(h[ck], v...)
		}
	}
	p.Header, p.Body = h, m.Data
	if err := p.Validate(); err != nil {
		return core.Part{}, "", 0, fmt.Errorf("natsmx: %w", err)
	}
	return p, origin, seq, nil
}

// checkSubject reports whether s is a literal NATS subject: dot-separated
// non-empty tokens, no wildcard token, no space or control character.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("natsmx: empty subject")
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return fmt.Errorf("natsmx: subject %q: want a literal subject (dot-separated names, no wildcards)", s)
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("natsmx: subject %q: no spaces or control characters", s)
		}
	}
	return nil
}
