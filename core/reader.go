package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// DefaultMaxPartSize is the default of [ReadOptions.MaxPartSize].
const DefaultMaxPartSize = 16 << 20

// ErrPartTooLarge is returned (wrapped) by [Read] for a part whose body is
// larger than ReadOptions.MaxPartSize.
var ErrPartTooLarge = errors.New("part too large")

// ReadOptions configures [Read]. A nil *ReadOptions means the defaults.
type ReadOptions struct {
	// MaxPartSize bounds the body of one part, in bytes; a larger part ends
	// the sequence with an error wrapping ErrPartTooLarge, after reading at
	// most MaxPartSize+1 bytes of it. Default DefaultMaxPartSize (16 MiB).
	MaxPartSize int64
}

// Read returns the parts of a multipart/x-mixed-replace body, in order, as
// they arrive: a part is yielded as soon as its delimiter has been read.
//
// It is built on mime/multipart.Reader, which finds a part's end by its
// delimiter (Content-Length is not needed) and bounds header sizes. Each
// body is read into a new slice bounded by MaxPartSize. boundary is the
// Content-Type's boundary parameter; a value written with a leading "--", as
// some cameras declare it, is accepted whether the stream's delimiters repeat
// those dashes or not. The repeat of the last part that [Writer.Close] marks
// with [FinalHeader] is dropped.
//
// The sequence ends after the close delimiter with no error. Any other end
// (a cut connection, malformed input, a part too large) yields one non-nil
// error, then stops. Stopping the iteration early is fine; closing r is the
// caller's job.
func Read(r io.Reader, boundary string, opts *ReadOptions) iter.Seq2[Part, error] {
	max := int64(DefaultMaxPartSize)
	if opts != nil && opts.MaxPartSize > 0 {
		max = opts.MaxPartSize
	}
	return func(yield func(Part, error) bool) {
		if boundary == "" {
			yield(Part{}, errors.New("core: read: empty boundary"))
			return
		}
		tr := &tailReader{r: r}
		br := bufio.NewReaderSize(tr, 4096)
		if strings.HasPrefix(boundary, "--") && !startsWithDelimiter(br, "--"+boundary) {
			boundary = strings.TrimLeft(boundary, "-")
		}
		mr := multipart.NewReader(br, boundary)
		for {
			p, err := mr.NextPart()
			if err == io.EOF && tr.cut("--"+boundary+"--") {
				err = io.ErrUnexpectedEOF
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Part{}, fmt.Errorf("core: read: %w", err))
				return
			}
			body, err := readBody(p, max)
			if err != nil {
				yield(Part{}, err)
				return
			}
			if p.Header.Get(FinalHeader) != "" {
				continue
			}
			if !yield(Part{Header: p.Header, Body: body}, nil) {
				return
			}
		}
	}
}

func readBody(p *multipart.Part, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if n, err := strconv.ParseInt(p.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		if n > max {
			return nil, fmt.Errorf("core: read: %w: Content-Length %d, MaxPartSize %d", ErrPartTooLarge, n, max)
		}
		buf.Grow(int(n))
	}
	n, err := buf.ReadFrom(io.LimitReader(p, max+1))
	if err != nil {
		return nil, fmt.Errorf("core: read: %w", err)
	}
	if n > max {
		return nil, fmt.Errorf("core: read: %w: more than MaxPartSize %d bytes", ErrPartTooLarge, max)
	}
	return buf.Bytes(), nil
}

// tailReader remembers the last bytes read and whether the input ended.
// mime/multipart.Reader.NextPart returns a bare io.EOF both after the close
// delimiter and when the input ends inside a part's header block; the tail
// tells the two apart.
type tailReader struct {
	r    io.Reader
	tail []byte
	err  error
}

const tailSize = 256

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n >= tailSize {
		t.tail = append(t.tail[:0], p[n-tailSize:n]...)
	} else if n > 0 {
		if drop := len(t.tail) + n - tailSize; drop > 0 {
			t.tail = append(t.tail[:0], t.tail[drop:]...)
		}
		t.tail = append(t.tail, p[:n]...)
	}
	if err != nil {
		t.err = err
	}
	return n, err
}

// cut reports whether the input ended without the close delimiter in its
// last bytes. Without an error from the input, mime/multipart saw the close
// delimiter.
func (t *tailReader) cut(closeDelim string) bool {
	return t.err != nil && !bytes.Contains(t.tail, []byte(closeDelim))
}

// startsWithDelimiter reports whether the first non-blank line of br starts
// with delim, peeking at most 4 KiB.
func startsWithDelimiter(br *bufio.Reader, delim string) bool {
	for n := 1; n <= br.Size(); n++ {
		b, err := br.Peek(n)
		t := bytes.TrimLeft(b, "\r\n\t ")
		if len(t) >= len(delim) || bytes.IndexByte(t, '\n') >= 0 || err != nil {
			return bytes.HasPrefix(t, []byte(delim))
		}
	}
	return false
}

// ReadResponse checks that resp is a 200 multipart/x-mixed-replace (or other
// multipart) response with a boundary and returns Read of its body. It does
// not close the body.
func ReadResponse(resp *http.Response, opts *ReadOptions) iter.Seq2[Part, error] {
	boundary, err := responseBoundary(resp)
	if err != nil {
		return func(yield func(Part, error) bool) { yield(Part{}, err) }
	}
	return Read(resp.Body, boundary, opts)
}

func responseBoundary(resp *http.Response) (string, error) {
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("core: response status %s, want 200 OK", resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("core: response Content-Type %q: %w", ct, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return "", fmt.Errorf("core: response Content-Type %q, want %s", ct, MediaType)
	}
	b := params["boundary"]
	if b == "" {
		return "", fmt.Errorf("core: response Content-Type %q has no boundary", ct)
	}
	return b, nil
}
