package mxtest

import (
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/examples/demo"
)

// Slack is how much earlier than the demo's schedule a part may arrive,
// after the previous one, before CheckDemo fails. Clients stamp a part
// when they read it, and a busy machine delays some reads more than
// others.
const Slack = 100 * time.Millisecond

// DemoDuration is the demo's own length: the sum of its pauses (6.1 s).
var DemoDuration = func() time.Duration {
	var d time.Duration
	for _, s := range demo.Steps() {
		d += s.Pause
	}
	return d
}()

// CheckDemoParts checks that got holds the demo's parts, demo.Steps, in
// order. Types, lengths and bodies must match.
func CheckDemoParts(t testing.TB, got []Arrival) {
	t.Helper()
	steps := demo.Steps()
	if len(got) != len(steps) {
		t.Errorf("got %d parts, want %d", len(got), len(steps))
	}
	for i := range min(len(got), len(steps)) {
		CheckPart(t, i, got[i].Part, steps[i].Part)
	}
}

// CheckDemo checks the parts with CheckDemoParts. They must arrive on the
// demo's schedule, one by one: each at least its predecessor's pause,
// less Slack, after it. So none was held back and sent with the next one.
// yields, when not nil, holds the times the source produced each part
// (see Timed). Then each part must arrive before the next was produced.
func CheckDemo(t testing.TB, got []Arrival, yields []time.Time) {
	t.Helper()
	CheckDemoParts(t, got)
	steps := demo.Steps()
	if len(got) != len(steps) {
		return
	}
	for i := 1; i < len(got); i++ {
		gap, pause := got[i].At.Sub(got[i-1].At), steps[i-1].Pause
		if gap < pause-Slack {
			t.Errorf("part %d arrived %v after part %d, want about %v", i, gap, i-1, pause)
		}
	}
	if total := got[len(got)-1].At.Sub(got[0].At); total > DemoDuration+2*time.Second {
		t.Errorf("the demo took %v from the first part to the last, want about %v", total, DemoDuration)
	}
	if yields == nil {
		return
	}
	if len(yields) != len(got) {
		t.Fatalf("source yielded %d parts, client got %d", len(yields), len(got))
	}
	for i := range len(got) - 1 {
		if !got[i].At.Before(yields[i+1]) {
			t.Errorf("part %d arrived %v after part %d was produced, want before",
				i, got[i].At.Sub(yields[i+1]), i+1)
		}
	}
}

// CheckDemoWire reads a whole demo response with Go's mime/multipart. It
// checks that the reader sees exactly the demo's parts, then io.EOF. So
// the stream ends with the close delimiter right after the last body.
func CheckDemoWire(t testing.TB, resp *http.Response) {
	t.Helper()
	boundary := CheckHeaders(t, resp)
	mr := multipart.NewReader(resp.Body, boundary)
	steps := demo.Steps()
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if i != len(steps) {
				t.Errorf("mime/multipart read %d parts, then io.EOF; want %d", i, len(steps))
			}
			return
		}
		if err != nil {
			t.Fatalf("mime/multipart, part %d: %v", i, err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("mime/multipart, part %d: %v", i, err)
		}
		if i >= len(steps) {
			t.Fatalf("mime/multipart read part %d (%q), want %d parts", i, body, len(steps))
		}
		got := core.Part{Header: textproto.MIMEHeader(p.Header), Body: body}
		CheckPart(t, i, got, steps[i].Part)
	}
}
