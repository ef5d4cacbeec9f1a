package core_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/mxreplace/mx/core"
)

// collect reads a stream to its end and returns the parts and the error.
func collect(t testing.TB, r io.Reader, boundary string, opts *core.ReadOptions) ([]core.Part, error) {
	t.Helper()
	var parts []core.Part
	for p, err := range core.Read(r, boundary, opts) {
		if err != nil {
			return parts, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 70, 4095, 4096, 4097, 65535, 65536, 1 << 20}
	types := []string{core.TypeText, core.TypeHTML, core.TypePNG, core.TypeJPEG, "application/octet-stream", "video/x-custom; codec=\"a b\""}
	for _, mode := range []core.Mode{core.ModeLength, core.ModeAdvance} {
		var want []core.Part
		for i, n := range sizes {
			body := make([]byte, n)
			for j := range body {
				// Bytes that look like delimiters are the hard case.
				body[j] = "\r\n-B"[rng.IntN(4)]
			}
			p, err := core.NewPart(types[i%len(types)], body)
			if err != nil {
				t.Fatal(err)
			}
			p.Header.Set("X-Index", fmt.Sprint(i))
			want = append(want, p)
		}
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		w.SetMode(mode)
		for _, p := range want {
			if err := w.WritePart(p); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		got, err := collect(t, &buf, w.Boundary(), nil)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if mode == core.ModeAdvance {
			// The header block of the next part goes out in advance with
			// the type of the part before. When the type changes, that
			// announced part ends empty, and the real one follows with its
			// own header block. Without Content-Length, the final repeat
			// cannot carry the final marker: the last part comes twice.
			var exp []core.Part
			for i, p := range want {
				if i > 0 && p.ContentType() != want[i-1].ContentType() {
					exp = append(exp, core.Part{Header: textproto.MIMEHeader{"Content-Type": {want[i-1].ContentType()}}})
				}
				exp = append(exp, p)
			}
			want = append(exp, want[len(want)-1])
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d parts, want %d", mode, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].Body, want[i].Body) {
				t.Errorf("%v: part %d: body differs (len %d, want %d)", mode, i, len(got[i].Body), len(want[i].Body))
			}
			if got[i].ContentType() != want[i].ContentType() {
				t.Errorf("%v: part %d: type %q, want %q", mode, i, got[i].ContentType(), want[i].ContentType())
			}
			if mode == core.ModeLength {
				if got[i].Header.Get("X-Index") != fmt.Sprint(i) || got[i].Header.Get("Content-Length") != fmt.Sprint(sizes[i]) {
					t.Errorf("part %d: header %v", i, got[i].Header)
				}
			}
		}
	}
}

func TestReadDashedBoundary(t *testing.T) {
	// Cameras declare boundary=--frame and then write either "--frame"
	// (the declared value as the delimiter) or "----frame".
	for _, delim := range []string{"--frame", "----frame"} {
		in := "\r\n" + delim + "\r\nContent-Type: image/jpeg\r\n\r\nA\r\n" + delim + "\r\nContent-Type: image/jpeg\r\n\r\nB\r\n" + delim + "--\r\n"
		got, err := collect(t, strings.NewReader(in), "--frame", nil)
		if err != nil || len(got) != 2 || string(got[0].Body) != "A" || string(got[1].Body) != "B" {
			t.Errorf("delimiter %q: %d parts, %v", delim, len(got), err)
		}
	}
}

func TestReadErrors(t *testing.T) {
	body := func(s string) io.Reader { return strings.NewReader(s) }
	tests := []struct {
		name  string
		in    string
		max   int64
		parts int
		want  error // nil: any non-nil error
	}{
		{name: "cut in a body", in: "--B\r\nContent-Type: text/plain\r\n\r\nhal", parts: 0, want: io.ErrUnexpectedEOF},
		{name: "cut after a delimiter", in: "--B\r\nContent-Type: text/plain\r\n\r\none\r\n--B\r\n", parts: 1},
		{name: "cut in headers", in: "--B\r\nContent-Type: text/pl", parts: 0},
		{name: "no delimiter at all", in: "garbage", parts: 0},
		{name: "too large by length", in: "--B\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100) + "\r\n--B--\r\n", max: 10, want: core.ErrPartTooLarge},
		{name: "too large by body", in: "--B\r\n\r\n" + strings.Repeat("x", 100) + "\r\n--B--\r\n", max: 10, want: core.ErrPartTooLarge},
		{name: "empty boundary", in: "", parts: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			boundary := "B"
			if tt.name == "empty boundary" {
				boundary = ""
			}
			got, err := collect(t, body(tt.in), boundary, &core.ReadOptions{MaxPartSize: tt.max})
			if err == nil {
				t.Fatalf("no error, %d parts", len(got))
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if len(got) != tt.parts {
				t.Fatalf("%d parts before the error, want %d", len(got), tt.parts)
			}
		})
	}
	// A part exactly MaxPartSize long is fine.
	got, err := collect(t, body("--B\r\n\r\n0123456789\r\n--B--\r\n"), "B", &core.ReadOptions{MaxPartSize: 10})
	if err != nil || len(got) != 1 {
		t.Fatalf("part of MaxPartSize: %v", err)
	}
}

// TestReadBoundedMemory feeds an endless part and checks Read stops after
// MaxPartSize+1 bytes instead of buffering it all.
func TestReadBoundedMemory(t *testing.T) {
	src := &countingReader{r: io.MultiReader(strings.NewReader("--B\r\n\r\n"), endless{})}
	_, err := collect(t, src, "B", &core.ReadOptions{MaxPartSize: 1 << 20})
	if !errors.Is(err, core.ErrPartTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if src.n > 1<<20+64<<10 {
		t.Fatalf("read %d bytes for a 1 MiB limit", src.n)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadEarlyStop(t *testing.T) {
	var buf bytes.Buffer
	w := core.NewWriter(&buf)
	for range 5 {
		w.WritePart(core.Text("x"))
	}
	n := 0
	for _, err := range core.Read(&buf, w.Boundary(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatal(n)
	}
}

func TestReadResponseChecks(t *testing.T) {
	mk := func(status int, ct string) *http.Response {
		return &http.Response{StatusCode: status, Status: fmt.Sprint(status), Header: http.Header{"Content-Type": {ct}},
			Body: io.NopCloser(strings.NewReader("--x\r\n\r\nhi\r\n--x--\r\n"))}
	}
	for _, tt := range []struct {
		resp *http.Response
		ok   bool
	}{
		{mk(200, "multipart/x-mixed-replace; boundary=x"), true},
		{mk(200, `multipart/x-mixed-replace;boundary="x"`), true},
		{mk(200, "multipart/x-mixed-replace; boundary=--x"), true},
		{mk(404, "multipart/x-mixed-replace; boundary=x"), false},
		{mk(200, "text/html"), false},
		{mk(200, "multipart/x-mixed-replace"), false},
		{mk(200, "multipart/x-mixed-replace; boundary="), false},
	} {
		var got []string
		var err error
		for p, e := range core.ReadResponse(tt.resp, nil) {
			if e != nil {
				err = e
				break
			}
			got = append(got, string(p.Body))
		}
		if tt.ok != (err == nil) || (tt.ok && strings.Join(got, ",") != "hi") {
			t.Errorf("%d %q: parts %q, err %v", tt.resp.StatusCode, tt.resp.Header.Get("Content-Type"), got, err)
		}
	}
}

// FuzzRead feeds arbitrary bytes to Read: it must not panic, must respect
// MaxPartSize, and must end with either a clean end or one error.
func FuzzRead(f *testing.F) {
	f.Add([]byte("--B\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi\r\n--B\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nMx-Final: repeat\r\n\r\nhi\r\n--B--\r\n"), "B")
	f.Add([]byte("--B\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n"), "B")
	f.Add([]byte("preamble\r\n----frame\r\n\r\nx\r\n----frame--"), "--frame")
	f.Add([]byte("--B--\r\n"), "B")
	f.Add([]byte("--B\n\nlf only\n--B--\n"), "B")
	f.Fuzz(func(t *testing.T, data []byte, boundary string) {
		const max = 1 << 10
		errs := 0
		for p, err := range core.Read(bytes.NewReader(data), boundary, &core.ReadOptions{MaxPartSize: max}) {
			if errs > 0 {
				t.Fatal("yielded after an error")
			}
			if err != nil {
				errs++
				continue
			}
			if len(p.Body) > max {
				t.Fatalf("body of %d bytes over MaxPartSize", len(p.Body))
			}
			if p.Header.Get(core.FinalHeader) != "" {
				t.Fatal("final repeat yielded")
			}
		}
	})
}

// FuzzRoundTrip writes fuzzed parts and reads them back unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add("image/jpeg", []byte("\xff\xd8\r\n--x\r\n\xff\xd9"), "X-A", "1", []byte("second"), false)
	f.Add("text/html", []byte(""), "X-Empty", "", []byte("<h1>"), true)
	f.Fuzz(func(t *testing.T, ctype string, body1 []byte, hk, hv string, body2 []byte, advance bool) {
		p1 := core.Part{Header: textproto.MIMEHeader{"Content-Type": {ctype}}, Body: body1}
		if hk != "" {
			p1.Header[textproto.CanonicalMIMEHeaderKey(hk)] = []string{hv}
		}
		p2 := core.Part{Header: textproto.MIMEHeader{"Content-Type": {ctype}}, Body: body2}
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		if advance {
			w.SetMode(core.ModeAdvance)
		}
		if err := w.WritePart(p1); err != nil {
			if !errors.Is(err, core.ErrInvalidHeader) || buf.Len() != 0 {
				t.Fatalf("WritePart: %v, %d bytes written", err, buf.Len())
			}
			return
		}
		if err := w.WritePart(p2); err != nil {
			t.Fatal(err)
		}
		w.Close()
		got, err := collect(t, &buf, w.Boundary(), nil)
		if err != nil {
			// mime/multipart rejects some headers that are valid tokens
			// (e.g. values with leading spaces are trimmed, not refused);
			// a read error is only acceptable for odd header names.
			t.Fatalf("read back: %v (header %q: %q)", err, hk, hv)
		}
		want := 2
		if advance {
			want = 3
		}
		if len(got) != want || !bytes.Equal(got[0].Body, body1) || !bytes.Equal(got[1].Body, body2) {
			t.Fatalf("got %d parts", len(got))
		}
	})
}
