package liveapp

import (
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mxreplace/mx/internal/demoapp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAccessValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Access
		want string // "" for valid
	}{
		{"open", Access{}, ""},
		{"auth", Access{User: "u", Pass: "p:q"}, ""},
		{"origin", Access{AllowOrigin: "https://example.com:8443"}, ""},
		{"origin with slash", Access{AllowOrigin: "http://localhost:3000/"}, ""},
		{"any origin", Access{AllowOrigin: "*"}, ""},
		{"user only", Access{User: "u"}, "-user needs -pass"},
		{"pass only", Access{Pass: "p"}, "-pass needs -user"},
		{"colon in user", Access{User: "a:b", Pass: "p"}, "colon"},
		{"bare host", Access{AllowOrigin: "example.com"}, "-allow-origin"},
		{"other scheme", Access{AllowOrigin: "ftp://example.com"}, "-allow-origin"},
		{"path", Access{AllowOrigin: "https://example.com/app"}, "-allow-origin"},
		{"user info", Access{AllowOrigin: "https://u@example.com"}, "-allow-origin"},
		{"query", Access{AllowOrigin: "https://example.com?x"}, "-allow-origin"},
	} {
		err := tc.a.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckAuth(t *testing.T) {
	a := Access{User: "alice", Pass: "pw"}
	for _, tc := range []struct {
		user, pass string
		want       bool
	}{
		{"alice", "pw", true},
		{"alice", "pw2", false},
		{"alice", "", false},
		{"", "pw", false},
		{"Alice", "pw", false},
		{"", "", false},
	} {
		if got := a.CheckAuth(tc.user, tc.pass); got != tc.want {
			t.Errorf("CheckAuth(%q, %q) = %v, want %v", tc.user, tc.pass, got, tc.want)
		}
	}
	if !(Access{}).CheckAuth("", "") {
		t.Error("without auth, CheckAuth must accept anyone")
	}
}

func TestCORSSettings(t *testing.T) {
	for _, tc := range []struct {
		a      Access
		origin string
		creds  bool
	}{
		{Access{AllowOrigin: "http://localhost:3000/"}, "http://localhost:3000", false},
		{Access{AllowOrigin: "https://x.example", User: "u", Pass: "p"}, "https://x.example", true},
		{Access{AllowOrigin: "*", User: "u", Pass: "p"}, "*", false},
	} {
		if got := tc.a.Origin(); got != tc.origin {
			t.Errorf("%+v: Origin() = %q, want %q", tc.a, got, tc.origin)
		}
		if got := tc.a.AllowCredentials(); got != tc.creds {
			t.Errorf("%+v: AllowCredentials() = %v, want %v", tc.a, got, tc.creds)
		}
	}
}

func TestPage(t *testing.T) {
	p := &Page{Title: "cam <1>", Width: 320, Height: 240, Facts: []string{"fact & more"}}
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"/", []string{
			`<title>cam &lt;1&gt;</title>`,
			`<img src="/stream" alt="live stream" width="320" height="240">`,
			`<p>fact &amp; more</p>`,
			`<a href="/snapshot">`,
			`<b>auto</b> · <a href="/?mx=advance">advance</a> · <a href="/?mx=length">length</a>`,
		}},
		{"/?mx=length", []string{`<img src="/stream?mx=length"`, `<a href="/">auto</a>`, `<b>length</b>`}},
		{"/?mx=ADVANCE", []string{`<img src="/stream?mx=advance"`, `<b>advance</b>`}},
		{"/?mx=%22%3E", []string{`<img src="/stream" `, `<b>auto</b>`}},
	} {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.target, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: %d %q", tc.target, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", tc.target, w, body)
			}
		}
	}

	rec := httptest.NewRecorder()
	(&Page{Title: "relay"}).ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	rec = httptest.NewRecorder()
	(&Page{Title: "relay"}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if body := rec.Body.String(); !strings.Contains(body, `<img src="/stream" alt="live stream">`) {
		t.Errorf("a page without a frame size has an <img> with one:\n%s", body)
	}
}

func TestParse(t *testing.T) {
	newFS := func(a *Access, addr *string) *flag.FlagSet {
		fs := flag.NewFlagSet("app", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		RegisterAddr(fs, addr)
		a.RegisterFlags(fs)
		return fs
	}
	var a Access
	var addr string
	fs := newFS(&a, &addr)
	if err := Parse(fs, []string{"-user", "u", "-pass", "p", "-allow-origin", "*", "-addr", ":9"}, a.Validate); err != nil {
		t.Fatal(err)
	}
	if want := (Access{User: "u", Pass: "p", AllowOrigin: "*"}); a != want || addr != ":9" {
		t.Errorf("parsed %+v %q, want %+v \":9\"", a, addr, want)
	}
	for _, tc := range []struct {
		args     []string
		reported bool
		help     bool
	}{
		{[]string{"-bogus"}, true, false},
		{[]string{"-h"}, true, true},
		{[]string{"extra"}, false, false},
		{[]string{"-user", "u"}, false, false},
	} {
		var a Access
		var addr string
		fs := newFS(&a, &addr)
		err := Parse(fs, tc.args, func() error { return a.Validate() })
		var fe *FlagError
		if !errors.As(err, &fe) || fe.reported != tc.reported || errors.Is(err, flag.ErrHelp) != tc.help {
			t.Errorf("%q: %#v", tc.args, err)
		}
	}
	var def string
	if err := Parse(newFS(&Access{}, &def), nil, func() error { return nil }); err != nil || def != demoapp.DefaultAddr {
		t.Errorf("default -addr %q (%v), want %q", def, err, demoapp.DefaultAddr)
	}
}
