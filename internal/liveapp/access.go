package liveapp

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mxreplace/mx/core"
)

// Access is who may use a live app: the flags -user, -pass and
// -allow-origin. The zero value is open to everyone, same-origin only.
type Access struct {
	// User and Pass turn on HTTP Basic auth for every route when both are
	// set. Default: no auth.
	User, Pass string
	// AllowOrigin turns on CORS for one origin ("https://example.com") or
	// for all ("*"). Default: no CORS headers. A request from another
	// origin gets no CORS headers (echo serves it; gin-contrib/cors answers
	// 403); a plain <img> sends no Origin and is not affected.
	AllowOrigin string
}

// RegisterFlags defines -user, -pass and -allow-origin on fs, storing into a.
func (a *Access) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.User, "user", "", "require HTTP Basic auth as `name` (with -pass); default: no auth")
	fs.StringVar(&a.Pass, "pass", "", "HTTP Basic auth `password` (with -user)")
	fs.StringVar(&a.AllowOrigin, "allow-origin", "", "allow cross-origin requests (CORS) from `ORIGIN`: \"https://example.com\" or \"*\"; default: none")
}

// Validate reports flags that do not go together: one of -user and -pass
// without the other, a user name with a colon, or an origin that is not "*"
// or an http(s) scheme and host with no path.
func (a Access) Validate() error {
	switch {
	case a.User == "" && a.Pass != "":
		return errors.New("-pass needs -user")
	case a.User != "" && a.Pass == "":
		return errors.New("-user needs -pass")
	case strings.Contains(a.User, ":"):
		return errors.New("-user must not contain a colon (HTTP Basic auth)")
	}
	if o := a.AllowOrigin; o != "" && o != "*" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("-allow-origin %q: want \"*\" or an origin such as https://example.com:8443", o)
		}
	}
	return nil
}

// AuthEnabled reports whether Basic auth is on.
func (a Access) AuthEnabled() bool { return a.User != "" }

// CheckAuth reports whether user and pass are the configured credentials.
// It compares in constant time (over hashes, so that not even the lengths
// leak). It is a middleware's validator: echo's middleware.BasicAuth.
func (a Access) CheckAuth(user, pass string) bool {
	if !a.AuthEnabled() {
		return true
	}
	wu, wp := sha256.Sum256([]byte(a.User)), sha256.Sum256([]byte(a.Pass))
	gu, gp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	// Both comparisons run every time: & rather than &&.
	return subtle.ConstantTimeCompare(wu[:], gu[:])&subtle.ConstantTimeCompare(wp[:], gp[:]) == 1
}

// Realm is the Basic auth realm of the live apps.
const Realm = "mx"

// CORSEnabled reports whether CORS is on.
func (a Access) CORSEnabled() bool { return a.AllowOrigin != "" }

// Origin returns the allowed origin, normalized (no trailing slash).
func (a Access) Origin() string { return strings.TrimSuffix(a.AllowOrigin, "/") }

// AllowCredentials reports whether a cross-origin request may carry
// credentials (Access-Control-Allow-Credentials: true): with auth on and a
// single origin, never with "*".
func (a Access) AllowCredentials() bool { return a.AuthEnabled() && a.Origin() != "*" }

// The CORS settings of both apps: read-only methods, the Authorization
// request header (for Basic auth from script) and the part and snapshot
// headers a script may read.
var (
	CORSMethods       = []string{http.MethodGet, http.MethodHead, http.MethodOptions}
	CORSAllowHeaders  = []string{"Authorization"}
	CORSExposeHeaders = []string{"Content-Length", core.TimestampHeader}
)
