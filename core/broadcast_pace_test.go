package core_test

import (
	"fmt"
	"net/textproto"
	"regexp"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxreplace/mx/core"
)

// TestBroadcastSlowViewerSkips: a slow viewer skips parts and always takes
// the newest; a fast one gets every part. Stats count both.
func TestBroadcastSlowViewerSkips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts = 100
		b := &core.Broadcaster{}
		fast := subscribe(t, b, 0)
		// 95.5 ms: the slow viewer never comes back at the instant of a
		// Publish, so which part is the newest is clear.
		slow := subscribe(t, b, 95500*time.Microsecond)
		synctest.Wait()
		if n := b.Stats().Viewers; n != 2 {
			t.Fatalf("Viewers = %d", n)
		}
		for seq := 1; seq <= parts; seq++ {
			b.Publish(seqPart(seq, 100))
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		f, s := fast.end(), slow.end()
		for i, r := range f {
			if r.seq != i+1 {
				t.Fatalf("fast viewer: receipt %d is part %d", i, r.seq)
			}
		}
		if len(f) != parts {
			t.Fatalf("fast viewer got %d parts, want %d", len(f), parts)
		}
		if len(s) < 8 || len(s) > 15 || s[0].seq != 1 || s[len(s)-1].seq != parts {
			t.Fatalf("slow viewer got %d parts from %d to %d, want about 10 from 1 to %d", len(s), s[0].seq, s[len(s)-1].seq, parts)
		}
		for i := 1; i < len(s); i++ {
			if s[i].seq <= s[i-1].seq {
				t.Fatalf("slow viewer: part %d after %d", s[i].seq, s[i-1].seq)
			}
			// Latest wins: the slow viewer always takes the newest part.
			if want := min(parts, int(s[i].at.Sub(s[0].at)/(10*time.Millisecond))+1); s[i].seq != want {
				t.Errorf("slow viewer took part %d at %v, the newest was %d", s[i].seq, s[i].at.Sub(s[0].at), want)
			}
		}
		st := b.Stats()
		if want := uint64(parts - len(s)); st.Skipped != want {
			t.Errorf("Skipped = %d, want %d", st.Skipped, want)
		}
		if want := uint64(len(f) + len(s)); st.Sent != want {
			t.Errorf("Sent = %d, want %d", st.Sent, want)
		}
		if st.Viewers != 0 {
			t.Errorf("Viewers = %d", st.Viewers)
		}
	})
}

// TestBroadcastDropRepeats: with DropRepeats, a part with the body and
// Content-Type of the latest is dropped. Without it, every part goes out.
func TestBroadcastDropRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &core.Broadcaster{DropRepeats: true}
		sub := subscribe(t, b, 0)
		synctest.Wait()
		steps := []struct {
			ct, body string
		}{
			{"image/jpeg", "A"},
			{"image/jpeg", "A"}, // dropped
			{"image/jpeg", "B"},
			{"image/jpeg", "B"}, // dropped
			{"image/jpeg", "B"}, // dropped
			{"image/png", "B"},  // another type: kept
			{"image/jpeg", "A"},
			{"", "A"},                         // application/octet-stream: kept
			{"application/octet-stream", "A"}, // the same type: dropped
		}
		for _, s := range steps {
			p := core.Part{Header: textproto.MIMEHeader{}, Body: []byte(s.body)}
			if s.ct != "" {
				p.Header.Set("Content-Type", s.ct)
			}
			if err := b.Publish(p); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		var got []string
		for _, r := range sub.end() {
			got = append(got, r.part.ContentType()+" "+string(r.body))
		}
		want := []string{"image/jpeg A", "image/jpeg B", "image/png B", "image/jpeg A", "application/octet-stream A"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("viewer got %q, want %q", got, want)
		}
		if st := b.Stats(); st.Published != 5 || st.Dropped != 4 || st.Sent != 5 {
			t.Errorf("Stats = %+v, want 5 published, 4 dropped, 5 sent", st)
		}

		// Without DropRepeats, equal parts all go out.
		b2 := &core.Broadcaster{}
		sub2 := subscribe(t, b2, 0)
		synctest.Wait()
		for range 3 {
			b2.Publish(core.Text("same"))
			synctest.Wait()
		}
		if n := len(sub2.end()); n != 3 {
			t.Errorf("without DropRepeats the viewer got %d parts, want 3", n)
		}
		if st := b2.Stats(); st.Published != 3 || st.Dropped != 0 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

// TestBroadcastMaxFPS: MaxFPS spaces each viewer's parts at least
// 1/MaxFPS apart, on the viewer's own pace. The last part still arrives.
func TestBroadcastMaxFPS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts, gap = 100, 100 * time.Millisecond
		b := &core.Broadcaster{MaxFPS: 10}
		early := subscribe(t, b, 0)
		synctest.Wait()
		start := time.Now()
		var late *subscriber
		for seq := 1; seq <= parts; seq++ {
			b.Publish(seqPart(seq, 100))
			if seq == 6 {
				synctest.Wait()
				late = subscribe(t, b, 0) // joins at 50 ms
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		for name, rs := range map[string][]receipt{"early": early.end(), "late": late.end()} {
			if len(rs) < 9 || len(rs) > 12 {
				t.Errorf("%s viewer: %d parts in %v at 10 fps", name, len(rs), rs[len(rs)-1].at.Sub(start))
			}
			if last := rs[len(rs)-1].seq; last != parts {
				t.Errorf("%s viewer: last part %d, want %d", name, last, parts)
			}
			for i := 1; i < len(rs); i++ {
				if d := rs[i].at.Sub(rs[i-1].at); d < gap {
					t.Errorf("%s viewer: parts %d and %d only %v apart", name, rs[i-1].seq, rs[i].seq, d)
				}
				if rs[i].seq <= rs[i-1].seq {
					t.Errorf("%s viewer: part %d after %d", name, rs[i].seq, rs[i-1].seq)
				}
			}
		}
		// Each viewer has its own pace: the late one got its first part at
		// once, when it joined.
		if rs := late.receipts(); rs[0].seq != 6 || rs[0].at.Sub(start) != 50*time.Millisecond {
			t.Errorf("late viewer: first part %d at %v, want 6 at 50ms", rs[0].seq, rs[0].at.Sub(start))
		}
		if st := b.Stats(); st.Skipped == 0 {
			t.Errorf("Skipped = 0 with MaxFPS")
		}
	})
}

// TestBroadcastIdleRepeat: with no new part for IdleRepeat, viewers get the
// latest part again. Nothing is repeated before the first part.
func TestBroadcastIdleRepeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &core.Broadcaster{IdleRepeat: time.Second}
		sub := subscribe(t, b, 0)
		// Nothing to repeat before the first part.
		time.Sleep(5 * time.Second)
		if n := len(sub.receipts()); n != 0 {
			t.Fatalf("%d parts before any Publish", n)
		}
		start := time.Now()
		b.Publish(seqPart(1, 100))
		time.Sleep(2500 * time.Millisecond) // repeats at 1s and 2s
		b.Publish(seqPart(2, 100))          // at 2.5s
		time.Sleep(1200 * time.Millisecond) // repeat at 3.5s
		rs := sub.end()
		type at struct {
			seq int
			at  time.Duration
		}
		var got []at
		for _, r := range rs {
			got = append(got, at{r.seq, r.at.Sub(start)})
		}
		want := []at{{1, 0}, {1, time.Second}, {1, 2 * time.Second}, {2, 2500 * time.Millisecond}, {2, 3500 * time.Millisecond}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("receipts %v, want %v", got, want)
		}
		if st := b.Stats(); st.Repeated != 3 || st.Sent != 5 || st.Published != 2 {
			t.Errorf("Stats = %+v, want 3 repeated, 5 sent", st)
		}
	})
}

// timestampRE matches a TimestampHeader value.
var timestampRE = regexp.MustCompile(`^[0-9]+\.[0-9]{6}$`)

// TestBroadcastTimestamps: with Timestamps, Publish adds TimestampHeader
// (Unix seconds with 6 decimals) to a copy of the part's header. Without
// it, no header is added.
func TestBroadcastTimestamps(t *testing.T) {
	t.Run("fake clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &core.Broadcaster{Timestamps: true}
			// The fake clock starts at 2000-01-01 00:00:00 UTC.
			b.Publish(core.JPEG([]byte("a")))
			p, _ := b.Snapshot()
			if got := p.Header.Get(core.TimestampHeader); got != "946684800.000000" {
				t.Errorf("%s = %q, want 946684800.000000", core.TimestampHeader, got)
			}
			time.Sleep(1234567 * time.Microsecond)
			b.Publish(core.JPEG([]byte("b")))
			p, _ = b.Snapshot()
			if got := p.Header.Get(core.TimestampHeader); got != "946684801.234567" {
				t.Errorf("%s = %q, want 946684801.234567", core.TimestampHeader, got)
			}
			time.Sleep(42 * time.Microsecond)
			b.Publish(core.JPEG([]byte("c")))
			p, _ = b.Snapshot()
			if got := p.Header.Get(core.TimestampHeader); got != "946684801.234609" {
				t.Errorf("%s = %q, want 946684801.234609", core.TimestampHeader, got)
			}
		})
	})
	t.Run("real clock", func(t *testing.T) {
		b := &core.Broadcaster{Timestamps: true}
		srv := newServer(t, core.Handler(b.Subscribe, nil), h1)
		t.Cleanup(func() { shutdown(t, b) })
		in := core.Part{Header: textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "X-Other": {"1"}}, Body: []byte("frame")}
		if err := b.Publish(in); err != nil {
			t.Fatal(err)
		}
		if _, ok := in.Header[core.TimestampHeader]; ok || len(in.Header) != 2 {
			t.Errorf("Publish modified the caller's header: %v", in.Header)
		}
		v := watch(t, srv.URL, "")
		p := v.next(t)
		ts := p.Header.Get(core.TimestampHeader)
		if !timestampRE.MatchString(ts) {
			t.Fatalf("%s = %q, want seconds with 6 decimals", core.TimestampHeader, ts)
		}
		f, _ := strconv.ParseFloat(ts, 64)
		if d := time.Since(time.UnixMicro(int64(f * 1e6))); d < -time.Second || d > 10*time.Second {
			t.Errorf("%s = %s is %v away from now", core.TimestampHeader, ts, d)
		}
		if p.Header.Get("X-Other") != "1" || string(p.Body) != "frame" {
			t.Errorf("part %v %q", p.Header, p.Body)
		}
		// Each part has its own timestamp.
		time.Sleep(2 * time.Millisecond)
		b.Publish(core.JPEG([]byte("next")))
		if ts2 := v.next(t).Header.Get(core.TimestampHeader); !timestampRE.MatchString(ts2) || ts2 <= ts {
			t.Errorf("second timestamp %q after %q", ts2, ts)
		}
	})
	// Without Timestamps, no header is added.
	var b core.Broadcaster
	b.Publish(core.JPEG([]byte("a")))
	if p, _ := b.Snapshot(); p.Header.Get(core.TimestampHeader) != "" {
		t.Errorf("%s set without Timestamps", core.TimestampHeader)
	}
}
