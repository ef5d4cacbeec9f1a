package browser

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// driver is what the cross-engine tests need of a browser.
type driver interface {
	Navigate(ctx context.Context, url string) error
	ExecuteScript(ctx context.Context, script string, args ...any) (json.RawMessage, error)
	Screenshot(ctx context.Context) ([]byte, error)
	Close() error
}

// engine names a browser engine and starts it, or skips the test.
type engine struct {
	name  string
	start func(t *testing.T) driver
}

var engines = []engine{
	{"chromium", func(t *testing.T) driver {
		Chromium(t)
		return started(t, func(ctx context.Context) (driver, error) { return StartDevTools(ctx, 800, 600) })
	}},
	{"firefox", func(t *testing.T) driver {
		Firefox(t)
		return started(t, func(ctx context.Context) (driver, error) { return StartFirefox(ctx) })
	}},
	{"webkit", func(t *testing.T) driver {
		WebKit(t)
		return started(t, func(ctx context.Context) (driver, error) { return StartWebKit(ctx) })
	}},
}

// started starts a browser for the test and closes it at the end.
func started[D driver](t *testing.T, start func(context.Context) (D, error)) driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t0 := time.Now()
	d, err := start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("browser started in %v", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// eachEngine runs f as a subtest per engine, each with its own browser.
func eachEngine(t *testing.T, f func(t *testing.T, d driver)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e.start(t)) })
	}
}
