package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// errStreamEnd is returned by partReader.next after the close delimiter.
var errStreamEnd = errors.New("stream ended")

// maxHeaderBytes bounds the header block of one part.
const maxHeaderBytes = 64 << 10

// partInfo is what the load tool needs of a part: no body, no header map.
type partInfo struct {
	ts    int64     // X-Timestamp in Unix microseconds, or -1
	final bool      // the part carries Mx-Final (a repeat that ends the stream)
	at    time.Time // when the read that completed the delimiter returned
}

// partReader splits a multipart/x-mixed-replace body into parts with one
// fixed buffer and no allocation per part. Bodies are skipped, not copied
// out: by Content-Length when the part has one, else by searching for the
// delimiter. A part is complete when the whole delimiter line after its
// body ("\r\n--B\r\n" or the close delimiter) has been read.
type partReader struct {
	r       io.Reader
	buf     []byte
	r0, w0  int    // unread bytes: buf[r0:w0]
	delim   []byte // "--" + boundary
	nlDelim []byte // "\n--" + boundary
	started bool   // first delimiter seen
	ended   bool   // close delimiter seen
	at      time.Time
	onRead  func(n int, at time.Time)
	maxRead int // bytes asked of r by one Read, at most; 0: no limit
}

func newPartReader(size int, onRead func(int, time.Time)) *partReader {
	return &partReader{buf: make([]byte, size), onRead: onRead}
}

// reset starts a new stream on r.
func (p *partReader) reset(r io.Reader, boundary string) {
	p.r = r
	p.r0, p.w0 = 0, 0
	p.delim = append(append(p.delim[:0], "--"...), boundary...)
	p.nlDelim = append(append(p.nlDelim[:0], '\n'), p.delim...)
	p.started, p.ended = false, false
}

// fill reads more bytes, keeping the unread ones.
func (p *partReader) fill() error {
	switch {
	case p.r0 == p.w0:
		p.r0, p.w0 = 0, 0
	case p.w0 == len(p.buf) && p.r0 == 0:
		return errors.New("line longer than the read buffer")
	case len(p.buf)-p.w0 < len(p.buf)/4 && p.r0 > 0: // keep reads large
		p.w0 = copy(p.buf, p.buf[p.r0:p.w0])
		p.r0 = 0
	}
	end := len(p.buf)
	if p.maxRead > 0 {
		end = min(end, p.w0+p.maxRead)
	}
	for {
		n, err := p.r.Read(p.buf[p.w0:end])
		if n > 0 {
			p.at = time.Now()
			p.w0 += n
			if p.onRead != nil {
				p.onRead(n, p.at)
			}
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
}

// line returns the next line without its line ending. The slice is valid
// until the next read.
func (p *partReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(p.buf[p.r0:p.w0], '\n'); i >= 0 {
			l := p.buf[p.r0 : p.r0+i]
			p.r0 += i + 1
			return bytes.TrimSuffix(l, []byte{'\r'}), nil
		}
		if err := p.fill(); err != nil {
			return nil, err
		}
	}
}

// discard skips n bytes.
func (p *partReader) discard(n int64) error {
	for {
		if avail := int64(p.w0 - p.r0); n <= avail {
			p.r0 += int(n)
			return nil
		} else {
			n -= avail
		}
		p.r0, p.w0 = 0, 0
		if err := p.fill(); err != nil {
			return err
		}
	}
}

// skipToDelimiter skips a body of unknown length up to the line that holds
// the next delimiter.
func (p *partReader) skipToDelimiter() error {
	keep := len(p.nlDelim) - 1
	for {
		if i := bytes.Index(p.buf[p.r0:p.w0], p.nlDelim); i >= 0 {
			p.r0 += i + 1
			return nil
		}
		if n := p.w0 - p.r0 - keep; n > 0 {
			p.r0 += n
		}
		if err := p.fill(); err != nil {
			return err
		}
	}
}

// delimiterLine reports whether l is a delimiter line, and whether it is the
// close delimiter. Transport padding (spaces, tabs) is allowed after it.
func (p *partReader) delimiterLine(l []byte) (ok, closing bool) {
	rest, ok := bytes.CutPrefix(l, p.delim)
	if !ok {
		return false, false
	}
	closing = bytes.HasPrefix(rest, []byte("--"))
	if closing {
		rest = rest[2:]
	}
	if len(bytes.Trim(rest, " \t")) != 0 {
		return false, false
	}
	return true, closing
}

// next reads the next part into info. It returns errStreamEnd after the
// close delimiter, and another error for a cut or malformed stream.
func (p *partReader) next(info *partInfo) error {
	if p.ended {
		return errStreamEnd
	}
	if !p.started { // skip the preamble up to the first delimiter
		for skipped := 0; ; {
			l, err := p.line()
			if err != nil {
				return err
			}
			if ok, closing := p.delimiterLine(l); ok {
				if closing {
					p.ended = true
					return errStreamEnd
				}
				break
			}
			if skipped += len(l); skipped > maxHeaderBytes {
				return errors.New("no delimiter in the first 64 KiB")
			}
		}
		p.started = true
	}
	info.ts, info.final = -1, false
	length := int64(-1)
	for size := 0; ; {
		l, err := p.line()
		if err != nil {
			return err
		}
		if len(l) == 0 {
			break
		}
		if size += len(l); size > maxHeaderBytes {
			return errors.New("part header larger than 64 KiB")
		}
		name, value, ok := bytes.Cut(l, []byte{':'})
		if !ok {
			return fmt.Errorf("malformed part header line %q", l)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length = parseLength(value)
		case bytes.EqualFold(name, []byte("X-Timestamp")):
			info.ts = parseTimestamp(value)
		case bytes.EqualFold(name, []byte("Mx-Final")):
			info.final = true
		}
	}
	if length >= 0 {
		if err := p.discard(length); err != nil {
			return err
		}
		// The body is followed by CRLF and the delimiter line; tolerate
		// extra blank lines, fall back to a search if the length was wrong.
		for blank := 0; ; blank++ {
			if p.w0-p.r0 < 2 {
				if err := p.fill(); err != nil {
					return err
				}
				continue
			}
			c := p.buf[p.r0]
			if blank < 4 && (c == '\r' || c == '\n') {
				if c == '\r' && p.buf[p.r0+1] == '\n' {
					p.r0 += 2
				} else {
					p.r0++
				}
				continue
			}
			if c != '-' {
				if err := p.skipToDelimiter(); err != nil {
					return err
				}
			}
			break
		}
	} else if err := p.skipToDelimiter(); err != nil {
		return err
	}
	for {
		l, err := p.line()
		if err != nil {
			return err
		}
		ok, closing := p.delimiterLine(l)
		if ok {
			p.ended = closing
			info.at = p.at
			return nil
		}
		// a body line that only looked like a delimiter: search on
		if err := p.skipToDelimiter(); err != nil {
			return err
		}
	}
}

// parseLength parses a non-negative decimal, or returns -1.
func parseLength(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// parseTimestamp parses Unix seconds with an optional fraction
// ("1700000000.123456") into microseconds, or returns -1.
func parseTimestamp(b []byte) int64 {
	sec, frac, _ := bytes.Cut(b, []byte{'.'})
	if len(sec) == 0 || len(sec) > 12 {
		return -1
	}
	var s int64
	for _, c := range sec {
		if c < '0' || c > '9' {
			return -1
		}
		s = s*10 + int64(c-'0')
	}
	var us int64
	for i := 0; i < 6; i++ {
		us *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return -1
			}
			us += int64(c - '0')
		}
	}
	for _, c := range frac[min(len(frac), 6):] {
		if c < '0' || c > '9' {
			return -1
		}
	}
	return s*1e6 + us
}
