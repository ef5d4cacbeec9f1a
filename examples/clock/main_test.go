package main

import (
	"testing"
	"time"

	"github.com/mxreplace/mx/internal/mxtest"
)

var app = mxtest.Binary{Pkg: "."}

func TestMain(m *testing.M) {
	mxtest.Main(m, &app)
}

// TestClock: a part a second, each a heading with the time, and a clean
// end on SIGTERM.
func TestClock(t *testing.T) {
	t.Parallel()
	p := mxtest.Start(t, app.Path(t))
	st := mxtest.OpenGet(t, mxtest.Client(t), p.URL+"/")
	var prev time.Time
	for i := range 3 {
		a, ok := st.Next(t, 10*time.Second)
		if !ok {
			t.Fatalf("stream ended after %d parts", i)
		}
		body := string(a.Part.Body)
		if _, err := time.Parse("<h1>"+time.TimeOnly+"</h1>", body); err != nil {
			t.Errorf("part %d: %q, want <h1>HH:MM:SS</h1>", i, body)
		}
		if i > 0 && a.At.Sub(prev) < 900*time.Millisecond {
			t.Errorf("part %d came %v after the one before, want about 1 s", i, a.At.Sub(prev))
		}
		prev = a.At
	}
	asked := time.Now()
	p.Stop(t, 2*time.Second)
	if err := st.End(t, 10*time.Second); err != nil {
		t.Errorf("stream after SIGTERM: %v, want a clean end", err)
	}
	t.Logf("stream ended %v after SIGTERM", time.Since(asked).Round(time.Millisecond))
}

// TestSafe: the clock server is safe to expose.
func TestSafe(t *testing.T) {
	t.Parallel()
	mxtest.CheckSafeServer(t, &app, "/")
}
