package mxtest

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mxreplace/mx/core"
)

// The credentials and origins the access checks use.
const (
	User   = "alice"
	Pass   = "s3cret:with:colons"
	Origin = "https://viewer.example"
	Other  = "https://evil.example"
)

// StartApp starts a live app with extra flags (-user, -pass,
// -allow-origin). The app serves frames at once. StartApp returns its base
// URL, such as "http://127.0.0.1:41234". The app stops when the test ends.
type StartApp func(t *testing.T, args ...string) string

// CheckAccess runs the auth and CORS checks every live app must pass.
// With -user and -pass, every route needs HTTP Basic auth. With
// -allow-origin, CORS answers that origin, preflights before auth. The
// subtests are parallel.
func CheckAccess(t *testing.T, start StartApp) {
	t.Run("auth", func(t *testing.T) {
		t.Parallel()
		checkAuth(t, start(t, "-user", User, "-pass", Pass))
	})
	t.Run("cors", func(t *testing.T) {
		t.Parallel()
		checkCORS(t, start(t, "-user", User, "-pass", Pass, "-allow-origin", Origin))
	})
	t.Run("cors-any", func(t *testing.T) {
		t.Parallel()
		base := start(t, "-allow-origin", "*")
		resp := Get(t, Client(t), base+"/snapshot", "Origin", Other)
		ReadAll(t, resp)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("Access-Control-Allow-Origin %q, want *", got)
		}
	})
}

func checkAuth(t *testing.T, base string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := Client(t)
	for _, path := range []string{"/", "/stream", "/snapshot"} {
		for _, tc := range []struct {
			name       string
			user, pass string
		}{
			{"no credentials", "", ""},
			{"wrong password", User, "s3cret"},
			{"wrong user", "bob", Pass},
		} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET %s (%s): %v", path, tc.name, err)
			}
			// The body must end: a 401 is not a stream.
			body := ReadAll(t, resp)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s (%s): %s, want 401", path, tc.name, resp.Status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(strings.ToLower(got), "basic realm=") {
				t.Errorf("GET %s (%s): WWW-Authenticate %q, want Basic realm=...", path, tc.name, got)
			}
			if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") || strings.HasPrefix(ct, "image/") {
				t.Errorf("GET %s (%s): Content-Type %q on a 401", path, tc.name, ct)
			}
			if bytes.Contains(body, []byte{0xff, 0xd8}) || bytes.Contains(body, []byte("image/jpeg")) {
				t.Errorf("GET %s (%s): a 401 with frame data: %q", path, tc.name, body)
			}
		}
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stream", nil)
	req.SetBasicAuth(User, Pass)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, core.MediaType+"; boundary=") {
		t.Fatalf("GET %s with credentials: %s, Content-Type %q", "/stream", resp.Status, ct)
	}
	Frames(t, resp, 2, false)

	for _, path := range []string{"/", "/snapshot"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.SetBasicAuth(User, Pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := ReadAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s with credentials: %s, %d bytes", path, resp.Status, len(body))
		}
	}
}

func checkCORS(t *testing.T, base string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := Client(t)
	do := func(method, path, origin string, auth bool, kv ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		if auth {
			req.SetBasicAuth(User, Pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	// A preflight carries no credentials; it is answered before auth.
	resp := do(http.MethodOptions, "/stream", Origin, false,
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	ReadAll(t, resp)
	if resp.StatusCode/100 != 2 {
		t.Errorf("preflight: %s, want 2xx", resp.Status)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != Origin {
		t.Errorf("preflight: Access-Control-Allow-Origin %q, want %q", got, Origin)
	}
	if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "GET") {
		t.Errorf("preflight: Access-Control-Allow-Methods %q, want GET in it", got)
	}
	if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") {
		t.Errorf("preflight: Access-Control-Allow-Headers %q, want Authorization in it", got)
	}

	resp = do(http.MethodGet, "/snapshot", Origin, true)
	ReadAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("snapshot: %s", resp.Status)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != Origin {
		t.Errorf("snapshot: Access-Control-Allow-Origin %q, want %q", got, Origin)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("snapshot: Access-Control-Allow-Credentials %q, want true (auth is on)", got)
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(strings.ToLower(got), strings.ToLower(core.TimestampHeader)) {
		t.Errorf("snapshot: Access-Control-Expose-Headers %q, want %s in it", got, core.TimestampHeader)
	}

	resp = do(http.MethodGet, "/stream", Origin, true)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != Origin {
		t.Errorf("stream: Access-Control-Allow-Origin %q, want %q", got, Origin)
	}
	Frames(t, resp, 1, false)

	// Another origin gets no CORS headers (echo serves it without them,
	// gin-contrib/cors answers 403): a browser will not hand it to a script.
	resp = do(http.MethodGet, "/snapshot", Other, true)
	ReadAll(t, resp)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("snapshot from %s: Access-Control-Allow-Origin %q, want none", Other, got)
	}
}
