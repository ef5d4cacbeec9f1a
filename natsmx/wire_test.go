package natsmx

import (
	"net/textproto"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/mxreplace/mx/core"
)

// messageSize is the size nats.go counts against max_payload.
func TestMessageSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    core.Part
	}{
		{"jpeg", core.JPEG(make([]byte, 1000))},
		{"no header", core.Part{Body: []byte("x")}},
		{"spaces trimmed", core.Part{Header: textproto.MIMEHeader{"X-A": {"  a  ", "b"}}, Body: []byte("xy")}},
		{"last", core.Part{Header: textproto.MIMEHeader{"Content-Type": {"text/plain"}}, Last: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := message("s", tc.p, "ORIGIN", 12345)
			want := m.Size() - len(m.Subject)
			if got := messageSize(tc.p, "ORIGIN", 12345, 0); got != want {
				t.Fatalf("messageSize %d, nats.Msg.Size without the subject %d", got, want)
			}
		})
	}
}

// decode undoes message, and leaves no header of the Edge's own.
func TestDecode(t *testing.T) {
	p := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "X-Timestamp": {"1.000001"}}, Body: []byte("b"), Last: true}
	m := message("s", p, "O", 7)
	m.Header = nats.Header{"content-type": m.Header["Content-Type"], "x-timestamp": m.Header["X-Timestamp"],
		"mx-origin": {"O"}, "mx-seq": {"7"}, "mx-last": {"1"}} // any case on the wire
	got, origin, seq, err := decode(m)
	if err != nil || origin != "O" || seq != 7 || !got.Last || string(got.Body) != "b" ||
		len(got.Header) != 2 || got.Header["Content-Type"][0] != "image/jpeg" || got.Header["X-Timestamp"][0] != "1.000001" {
		t.Fatalf("decode: %+v %q %d %v", got, origin, seq, err)
	}
	for _, bad := range []nats.Header{{"Mx-Seq": {"-1"}}, {"Bad\x01": {"x"}}, {"X": {"a\nb"}}} {
		if _, _, _, err := decode(&nats.Msg{Header: bad}); err == nil {
			t.Errorf("decode %v: no error", bad)
		}
	}
}

// FuzzDecode feeds decode what any publisher on the subject may send: a
// NATS header block and a payload. decode never panics; a part it accepts
// is valid, carries none of natsmx's own headers, and survives a round
// trip through message unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nContent-Type: image/jpeg\r\nMx-Origin: O\r\nMx-Seq: 7\r\n\r\n"), []byte("jpeg"))
	f.Add([]byte("NATS/1.0\r\nmx-last: 1\r\ncontent-type: text/html\r\ncontent-type: text/plain\r\n\r\n"), []byte("<h1>"))
	f.Add([]byte("NATS/1.0\r\nMx-Seq: 18446744073709551616\r\n\r\n"), []byte(nil))
	f.Add([]byte("NATS/1.0\r\nX: a\x00b\r\n\r\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, head, body []byte) {
		h, err := nats.DecodeHeadersMsg(head)
		if err != nil {
			return
		}
		p, origin, seq, err := decode(&nats.Msg{Subject: "s", Header: h, Data: body})
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decode accepted an invalid part: %v", err)
		}
		for _, k := range []string{OriginHeader, SeqHeader, LastHeader} {
			if _, ok := p.Header[k]; ok {
				t.Fatalf("decoded part keeps %s: %v", k, p.Header)
			}
		}
		q, origin2, seq2, err := decode(message("s", p, origin, seq))
		if err != nil || origin2 != origin || seq2 != seq || q.Last != p.Last || string(q.Body) != string(p.Body) {
			t.Fatalf("round trip: %+v %q %d %v, want %+v %q %d", q, origin2, seq2, err, p, origin, seq)
		}
		for k, v := range p.Header {
			if got := q.Header[k]; len(got) != len(v) {
				t.Fatalf("round trip: %s: %q, want %q", k, got, v)
			}
		}
	})
}
