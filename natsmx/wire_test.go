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
