package core_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/mxreplace/mx/core"
)

// recorder keeps each Write call separately.
type recorder struct{ writes []string }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) String() string { return strings.Join(r.writes, "") }

func TestWriterGolden(t *testing.T) {
	extra := core.Part{
		Header: textproto.MIMEHeader{
			"X-Timestamp":    {"1700000000.000001"},
			"Content-Type":   {"image/jpeg"},
			"Content-Length": {"999"}, // replaced by the real length
			"A-First":        {"1", "2"},
			"Mx-Final":       {"forged"}, // reserved: never copied
		},
		Body: []byte("JPEG"),
	}
	tests := []struct {
		name  string
		mode  core.Mode
		parts []core.Part
		want  []string // one entry per Write call
	}{
		{
			name: "length/empty",
			mode: core.ModeLength,
			want: []string{"--B--\r\n"},
		},
		{
			name:  "length/two parts",
			mode:  core.ModeLength,
			parts: []core.Part{core.Text("hello"), extra},
			want: []string{
				"--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello\r\n--B\r\n",
				"Content-Type: image/jpeg\r\nContent-Length: 4\r\nA-First: 1\r\nA-First: 2\r\nX-Timestamp: 1700000000.000001\r\n\r\nJPEG\r\n--B\r\n",
				// Close: the last part again, marked, then the close delimiter.
				"Content-Type: image/jpeg\r\nContent-Length: 4\r\nA-First: 1\r\nA-First: 2\r\nX-Timestamp: 1700000000.000001\r\nMx-Final: repeat\r\n\r\n",
				"JPEG",
				"\r\n--B--\r\n",
			},
		},
		{
			name:  "length/no content type",
			mode:  core.ModeLength,
			parts: []core.Part{{Body: []byte{0, 1}}},
			want: []string{
				"--B\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\n\x00\x01\r\n--B\r\n",
				"Content-Type: application/octet-stream\r\nContent-Length: 2\r\nMx-Final: repeat\r\n\r\n",
				"\x00\x01",
				"\r\n--B--\r\n",
			},
		},
		{
			name:  "advance/two parts",
			mode:  core.ModeAdvance,
			parts: []core.Part{core.JPEG([]byte("one")), extra},
			want: []string{
				"--B\r\nContent-Type: image/jpeg\r\n\r\none\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n",
				"JPEG\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n",
				"JPEG",
				"\r\n--B--\r\n",
			},
		},
		{
			name: "advance/empty",
			mode: core.ModeAdvance,
			want: []string{"--B--\r\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			w := core.NewWriter(&rec)
			if err := w.SetBoundary("B"); err != nil {
				t.Fatal(err)
			}
			if err := w.SetMode(tt.mode); err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.parts {
				if err := w.WritePart(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
			got := rec.writes
			if strings.Join(got, "") != strings.Join(tt.want, "") {
				t.Fatalf("wire:\n got %q\nwant %q", strings.Join(got, ""), strings.Join(tt.want, ""))
			}
			// Each part goes out, delimiter included, in one Write.
			for i, p := range tt.parts {
				if !strings.Contains(got[i], string(p.Body)+"\r\n--B\r\n") {
					t.Errorf("write %d %q does not hold part %d and its delimiter", i, got[i], i)
				}
			}
			if err := w.WritePart(core.Text("late")); !errors.Is(err, core.ErrClosed) {
				t.Errorf("WritePart after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestWriterLargePart(t *testing.T) {
	var rec recorder
	w := core.NewWriter(&rec)
	body := bytes.Repeat([]byte("x"), 200<<10)
	if err := w.WritePart(core.JPEG(body)); err != nil {
		t.Fatal(err)
	}
	// Header, body (not copied), delimiter.
	if len(rec.writes) != 3 || rec.writes[1] != string(body) || rec.writes[2] != "\r\n--"+w.Boundary()+"\r\n" {
		t.Fatalf("writes: %d, last %q", len(rec.writes), rec.writes[len(rec.writes)-1])
	}
}

func TestWriterContentType(t *testing.T) {
	w := core.NewWriter(io.Discard)
	b := w.Boundary()
	if len(b) != 32 || strings.Trim(b, "0123456789abcdef") != "" {
		t.Fatalf("random boundary %q, want 32 hex digits", b)
	}
	if core.NewWriter(io.Discard).Boundary() == b {
		t.Fatal("two writers share a boundary")
	}
	ct := w.ContentType()
	if ct != "multipart/x-mixed-replace; boundary="+b {
		t.Fatalf("ContentType %q", ct)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != core.MediaType || len(params) != 1 || params["boundary"] != b {
		t.Fatalf("ParseMediaType(%q) = %q %v %v", ct, mt, params, err)
	}
}

func TestSetBoundary(t *testing.T) {
	tests := []struct {
		name, b string
		ok      bool
	}{
		{"one char", "a", true},
		{"seventy", strings.Repeat("a", 70), true},
		{"allowed punctuation", "a'b+c_d-e.f", true},
		{"empty", "", false},
		{"seventy-one", strings.Repeat("a", 71), false},
		{"leading dashes", "--frame", false},
		{"space", "a b", false},
		{"trailing space", "ab ", false},
		{"quote-needing colon", "a:b", false},
		{"slash", "a/b", false},
		{"CRLF", "a\r\nX: y", false},
		{"NUL", "a\x00", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := core.NewWriter(io.Discard)
			old := w.Boundary()
			err := w.SetBoundary(tt.b)
			if tt.ok {
				if err != nil || w.Boundary() != tt.b {
					t.Fatalf("SetBoundary(%q) = %v", tt.b, err)
				}
				return
			}
			if !errors.Is(err, core.ErrBoundary) || w.Boundary() != old {
				t.Fatalf("SetBoundary(%q) = %v, boundary %q; want ErrBoundary and no change", tt.b, err, w.Boundary())
			}
		})
	}
	w := core.NewWriter(io.Discard)
	w.WritePart(core.Text("x"))
	if err := w.SetBoundary("late"); err == nil {
		t.Fatal("SetBoundary after writing succeeded")
	}
	if err := w.SetMode(core.ModeAdvance); err == nil {
		t.Fatal("SetMode after writing succeeded")
	}
}

func TestHeaderInjection(t *testing.T) {
	bad := []textproto.MIMEHeader{
		{"Content-Type": {"text/plain\r\nX-Evil: 1"}},
		{"X-A": {"line\nbreak"}},
		{"X-A": {"cr\ronly"}},
		{"X-A": {"nul\x00"}},
		{"X-A": {"ok", "second\r\n"}},
		{"X-Bad Name": {"v"}},
		{"X-Bad:Name": {"v"}},
		{"": {"v"}},
		{"X-\r\nA": {"v"}},
	}
	for _, h := range bad {
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		err := w.WritePart(core.Part{Header: h, Body: []byte("body")})
		if !errors.Is(err, core.ErrInvalidHeader) {
			t.Errorf("WritePart(%q) = %v, want ErrInvalidHeader", h, err)
		}
		if buf.Len() != 0 {
			t.Errorf("WritePart(%q) wrote %q", h, buf.String())
		}
		// The writer is still usable.
		if err := w.WritePart(core.Text("fine")); err != nil {
			t.Errorf("after a rejected part: %v", err)
		}
	}
	if _, err := core.NewPart("text/html\r\n\r\n<script>", nil); !errors.Is(err, core.ErrInvalidHeader) {
		t.Errorf("NewPart with CRLF = %v", err)
	}
	if p, err := core.NewPart("application/json", []byte("{}")); err != nil || p.ContentType() != "application/json" {
		t.Errorf("NewPart = %v, %v", p, err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, io.ErrClosedPipe
	}
	f.n--
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	w := core.NewWriter(&failWriter{n: 1})
	if err := w.WritePart(core.Text("a")); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePart(core.Text("b")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("got %v", err)
	}
	if err := w.WritePart(core.Text("c")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("error not sticky: %v", err)
	}
	if err := w.Close(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Close = %v", err)
	}
}

// TestGoMultipartReader checks the clean end with the standard library's
// strict reader: every part once, then the marked repeat, then io.EOF.
func TestGoMultipartReader(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		for i := range n {
			w.WritePart(core.Text(strings.Repeat("p", i+1)))
		}
		w.Close()
		mr := multipart.NewReader(&buf, w.Boundary())
		var got []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("n=%d: NextPart: %v", n, err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 {
				t.Fatalf("n=%d: empty part", n)
			}
			got = append(got, string(b)+"|"+p.Header.Get(core.FinalHeader))
		}
		want := []string{}
		for i := range n {
			want = append(want, strings.Repeat("p", i+1)+"|")
		}
		if n > 0 {
			want = append(want, strings.Repeat("p", n)+"|repeat")
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("n=%d: parts %q, want %q", n, got, want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []core.Mode{core.ModeAuto, core.ModeLength, core.ModeAdvance} {
		got, err := core.ParseMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := core.ParseMode("chunky"); err == nil {
		t.Error("ParseMode(chunky) succeeded")
	}
}
