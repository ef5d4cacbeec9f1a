package demoapp

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"0.0.0.0:8080", "http://localhost:8080/"},
		{"[::]:8080", "http://localhost:8080/"},
		{"[::1]:9000", "http://[::1]:9000/"},
		{"192.0.2.7:80", "http://192.0.2.7:80/"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := URL(addr); got != tc.want {
			t.Errorf("URL(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestBody(t *testing.T) {
	for code, want := range map[int]string{
		http.StatusAccepted:         "Accepted.",
		http.StatusNotFound:         "Not Found.",
		http.StatusMethodNotAllowed: "Method Not Allowed.",
	} {
		if got := Body(code); got != want {
			t.Errorf("Body(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestRunListenError: Run reports an address it cannot listen on.
func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	app := App{Name: "test", NewHandler: func(func()) http.Handler { return http.NotFoundHandler() }, Stdout: new(strings.Builder)}
	if err := app.Run(t.Context(), ln.Addr().String()); err == nil {
		t.Errorf("Run on %s, which is in use: no error", ln.Addr())
	}
}
