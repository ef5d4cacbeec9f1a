package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// webkitStartTimeout bounds StartWebKit when its ctx has no deadline.
const webkitStartTimeout = 60 * time.Second

// WebKitDriverPath returns the path of WebKitWebDriver (Debian package
// webkit2gtk-driver), or an error wrapping [exec.ErrNotFound].
func WebKitDriverPath() (string, error) { return lookPath([]string{"WebKitWebDriver"}) }

// WebKit skips the test unless WebKitWebDriver and xvfb-run are installed.
func WebKit(t testing.TB) {
	t.Helper()
	if _, err := WebKitDriverPath(); err != nil {
		t.Skip("WebKitWebDriver not installed: apt-get install webkit2gtk-driver xvfb")
	}
	if _, err := lookPath([]string{"xvfb-run"}); err != nil {
		t.Skip("xvfb-run not installed: apt-get install xvfb")
	}
}

// WebDriver is a WebKitGTK browser (the engine Safari uses) under a virtual
// X server, driven over W3C WebDriver (HTTP and JSON) by WebKitWebDriver.
//
// The session uses the "none" page load strategy: [WebDriver.Navigate]
// returns once navigation has started, as needed for documents that never
// finish loading. Methods may be called from several goroutines (WebKit
// runs one command at a time). Close must be called.
type WebDriver struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	base    string // http://127.0.0.1:PORT/session/ID
	client  http.Client
	exited  chan struct{}
	once    sync.Once
	err     error
}

// StartWebKit runs "xvfb-run -a WebKitWebDriver --port=P" and creates a
// session. ctx bounds the start-up only.
func StartWebKit(ctx context.Context) (d *WebDriver, err error) {
	bin, err := WebKitDriverPath()
	if err != nil {
		return nil, err
	}
	xvfb, err := lookPath([]string{"xvfb-run"})
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, webkitStartTimeout)
		defer cancel()
	}
	dir, err := os.MkdirTemp("", "mx-webkit-")
	if err != nil {
		return nil, fmt.Errorf("browser: start webkit: %w", err)
	}
	d = &WebDriver{dir: dir, logPath: filepath.Join(dir, "driver.log"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			err = fmt.Errorf("browser: start webkit: %w; output: %s", err, tailFile(d.logPath, 2048))
			d.stop()
			d = nil
		}
	}()
	port, err := freePort()
	if err != nil {
		return d, err
	}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		return d, err
	}
	defer logFile.Close()
	cmd := exec.Command(xvfb, "-a", bin, "--port="+strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	newGroupCmd(cmd)
	if err := cmd.Start(); err != nil {
		return d, err
	}
	d.cmd = cmd
	go func() { cmd.Wait(); close(d.exited) }()

	d.base = "http://127.0.0.1:" + strconv.Itoa(port)
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{"pageLoadStrategy": "none"}}}
	for {
		var res struct {
			SessionID string `json:"sessionId"`
		}
		err = d.do(ctx, "POST", "/session", caps, &res)
		if err == nil {
			d.base += "/session/" + res.SessionID
			return d, nil
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("no session: %w (last error: %v)", ctx.Err(), err)
		case <-d.exited:
			return d, fmt.Errorf("WebKitWebDriver exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// do sends one WebDriver command and decodes its "value" into out.
func (d *WebDriver) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var w struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("browser: webdriver %s %s: %d %.200s", method, path, resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message string }
		json.Unmarshal(w.Value, &e)
		return fmt.Errorf("browser: webdriver %s %s: %s: %s", method, path, e.Error, e.Message)
	}
	if out == nil {
		return nil
	}
	// Create session answers {"value": {"sessionId": ...}}.
	return json.Unmarshal(w.Value, out)
}

// Navigate makes the browser load url; it returns once navigation started.
func (d *WebDriver) Navigate(ctx context.Context, url string) error {
	return d.do(ctx, "POST", "/url", map[string]any{"url": url}, nil)
}

// ExecuteScript runs script as a function body in the current document, with
// args as its arguments, and returns the JSON of its return value.
func (d *WebDriver) ExecuteScript(ctx context.Context, script string, args ...any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	var v json.RawMessage
	err := d.do(ctx, "POST", "/execute/sync", map[string]any{"script": script, "args": args}, &v)
	if v == nil && err == nil {
		v = json.RawMessage("null")
	}
	return v, err
}

// Screenshot returns a PNG of the viewport. WebKit can take seconds before a
// document's first paint.
func (d *WebDriver) Screenshot(ctx context.Context) ([]byte, error) {
	var s string
	if err := d.do(ctx, "GET", "/screenshot", nil, &s); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(s)
}

// Close ends the session, stops the driver, the browser and the X server
// (their whole process group) and removes the temporary directory.
func (d *WebDriver) Close() error {
	d.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d.do(ctx, "DELETE", "", nil, nil)
		cancel()
		d.err = d.stop()
	})
	return d.err
}

func (d *WebDriver) stop() error {
	var err error
	if d.cmd != nil {
		killGroup(d.cmd)
		<-d.exited
		if !waitGroupGone(d.cmd, 5*time.Second) || !killMatching(mentions(d.dir), 5*time.Second) {
			err = fmt.Errorf("browser: close webkit: processes of group %d survived SIGKILL", d.cmd.Process.Pid)
		}
	}
	d.client.CloseIdleConnections()
	if e := removeAll(d.dir); e != nil && err == nil {
		err = e
	}
	return err
}
