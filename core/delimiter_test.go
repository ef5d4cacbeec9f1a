package core_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"testing"

	"github.com/mxreplace/mx/core"
)

// TestWritePartDelimiter: a body holding the stream's dash-boundary is
// refused with ErrDelimiter and nothing of it is written; the stream goes on.
func TestWritePartDelimiter(t *testing.T) {
	const B = "B0"
	refused := map[string]string{
		"at the start":    "--B0\r\nContent-Type: text/html\r\n\r\n<script>",
		"after CRLF":      "jpeg\r\n--B0\r\nContent-Type: text/html\r\n\r\n<script>",
		"after LF":        "jpeg\n--B0\n\n<script>",
		"mid-line":        "a--B0 b",
		"close delimiter": "x\r\n--B0--\r\n",
		"the whole body":  "--B0",
	}
	allowed := []string{"", "-", "--", "--B", "-B0", "\r\n-B0", "--b0", "B0--", "--B1"}
	for _, mode := range []core.Mode{core.ModeLength, core.ModeAdvance} {
		for name, body := range refused {
			t.Run(mode.String()+"/"+name, func(t *testing.T) {
				var buf bytes.Buffer
				w := core.NewWriter(&buf)
				w.SetBoundary(B)
				w.SetMode(mode)
				if err := w.WritePart(core.Text("ok")); err != nil {
					t.Fatal(err)
				}
				before := buf.Len()
				err := w.WritePart(core.Text(body))
				if !errors.Is(err, core.ErrDelimiter) {
					t.Fatalf("WritePart = %v, want ErrDelimiter", err)
				}
				if buf.Len() != before {
					t.Fatalf("%d bytes written for a refused part", buf.Len()-before)
				}
				if err := w.WritePart(lastPart(core.Text("after"))); err != nil {
					t.Fatalf("the stream did not go on: %v", err)
				}
				if n, err := countMultipart(&buf, B); n != 2 || err != nil {
					t.Errorf("mime/multipart: %d parts, %v; want 2, nil", n, err)
				}
			})
		}
	}
	for _, body := range allowed {
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		w.SetBoundary(B)
		if err := w.WritePart(lastPart(core.Text(body))); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
	}
}

// TestPublishDelimiter: a Broadcaster refuses a part whose body holds its
// public boundary; viewers never see it, and the last good part stays.
func TestPublishDelimiter(t *testing.T) {
	B := streamBoundary(t)
	var cam core.Broadcaster
	srv := httptest.NewServer(core.Handler(cam.Subscribe, nil))
	defer srv.Close()
	defer cam.Shutdown(context.Background())
	for _, ua := range []string{"curl/8", "Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0"} {
		if err := cam.Publish(core.JPEG([]byte("good"))); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		next, stop := iter.Pull2(core.ReadResponse(resp, nil))
		if p, err, _ := next(); err != nil || string(p.Body) != "good" {
			t.Fatalf("%s: first part %q, %v", ua, p.Body, err)
		}
		forged := "\xff\xd8\r\n--" + B + "\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>"
		if err := cam.Publish(core.JPEG([]byte(forged))); !errors.Is(err, core.ErrDelimiter) {
			t.Fatalf("Publish of a forged body = %v, want ErrDelimiter", err)
		}
		if p, _ := cam.Snapshot(); string(p.Body) != "good" {
			t.Errorf("snapshot %q after a refused part", p.Body)
		}
		cam.Publish(core.JPEG([]byte("next")))
		if p, err, _ := next(); err != nil || string(p.Body) != "next" || p.ContentType() != core.TypeJPEG {
			t.Errorf("%s: part after the refused one: %q %q, %v", ua, p.ContentType(), p.Body, err)
		}
		stop()
		resp.Body.Close()
	}
}

// FuzzWriter: for any boundary and bodies, the Writer either refuses a part
// (and writes nothing of it), or Go's mime/multipart reads back exactly the
// parts written, then io.EOF.
func FuzzWriter(f *testing.F) {
	f.Add("B", []byte("one"), []byte("two"), []byte("three"), false)
	f.Add("frame", []byte("\r\n--frame\r\n"), []byte("--frame"), []byte("x--frame--"), true)
	f.Add("a'+_-.z", []byte("\r\n--a'+_-.z"), []byte(""), []byte("\r\n"), false)
	f.Add("0", []byte("--1"), []byte("-0"), []byte("\r\n-\r\n--"), true)
	f.Fuzz(func(t *testing.T, boundary string, b1, b2, b3 []byte, advance bool) {
		var buf bytes.Buffer
		w := core.NewWriter(&buf)
		if w.SetBoundary(boundary) != nil {
			return
		}
		if advance {
			w.SetMode(core.ModeAdvance)
		}
		var want [][]byte
		for i, body := range [][]byte{b1, b2, b3} {
			p := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}}, Body: body, Last: i == 2}
			before := buf.Len()
			if err := w.WritePart(p); err != nil {
				if !errors.Is(err, core.ErrDelimiter) || buf.Len() != before {
					t.Fatalf("part %d: %v, %d bytes written", i, err, buf.Len()-before)
				}
				if !bytes.Contains(body, []byte("--"+boundary)) {
					t.Fatalf("part %d refused without a delimiter in it: %q", i, body)
				}
				continue
			}
			want = append(want, body)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(bytes.NewReader(buf.Bytes()), boundary)
		var got [][]byte
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("mime/multipart after %d parts: %v\n%q", len(got), err, buf.Bytes())
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("mime/multipart part %d: %v", len(got), err)
			}
			if p.Header.Get(core.FinalHeader) != "" {
				continue // the repeat when the Last part was refused
			}
			got = append(got, b)
		}
		// In advance mode the final repeat cannot carry Mx-Final: it is
		// there when the Last part was refused.
		if advance && len(b3) > 0 && bytes.Contains(b3, []byte("--"+boundary)) && len(want) > 0 && len(got) == len(want)+1 {
			got = got[:len(want)]
		}
		if len(got) != len(want) {
			t.Fatalf("%d parts read back, want %d\n%q", len(got), len(want), buf.Bytes())
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("part %d: %q, want %q", i, got[i], want[i])
			}
		}
	})
}
