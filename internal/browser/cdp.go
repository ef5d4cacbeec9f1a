package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// DevTools is a headless Chromium process driven over the DevTools protocol
// on a pipe (--remote-debugging-pipe: JSON messages ended by a NUL byte on
// file descriptors 3 and 4), with one page attached. Unlike
// [ChromiumScreenshot], it can read a page again and again while a stream
// runs. Methods may be called from several goroutines. Close must be
// called.
type DevTools struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	exited  chan struct{}

	wmu  sync.Mutex
	w    *os.File
	r    *os.File
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
	rerr error
	// crashed is set when the page's renderer crashed: calls fail at once.
	crashed bool

	session string
	once    sync.Once
	err     error
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	ID     int    `json:"id"`
	Method string `json:"method"`
}

// StartDevTools starts headless Chromium with a fresh profile and attaches
// to its page. ctx bounds the start-up only.
func StartDevTools(ctx context.Context, width, height int) (c *DevTools, err error) {
	bin, err := ChromiumPath()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mx-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser: start chromium: %w", err)
	}
	c = &DevTools{dir: dir, logPath: filepath.Join(dir, "output.log"), exited: make(chan struct{}), wait: map[int]chan cdpReply{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("browser: start chromium: %w; output: %s", err, tailFile(c.logPath, 2048, chromiumNoise...))
			c.stop()
			c = nil
		}
	}()
	toChrome, w, err := os.Pipe()
	if err != nil {
		return c, err
	}
	r, fromChrome, err := os.Pipe()
	if err != nil {
		return c, err
	}
	c.w, c.r = w, r
	logFile, err := os.Create(c.logPath)
	if err != nil {
		return c, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--remote-debugging-pipe",
		fmt.Sprintf("--window-size=%d,%d", width, height),
		"--user-data-dir="+filepath.Join(dir, "profile"), "about:blank")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fds 3 and 4
	newGroupCmd(cmd)
	err = cmd.Start()
	toChrome.Close()
	fromChrome.Close()
	if err != nil {
		return c, err
	}
	c.cmd = cmd
	go func() { cmd.Wait(); close(c.exited) }()
	go c.readLoop()

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	var targets struct {
		TargetInfos []struct{ TargetID, Type string } `json:"targetInfos"`
	}
	for {
		res, err := c.call(ctx, "", "Target.getTargets", nil)
		if err != nil {
			return c, err
		}
		if err := json.Unmarshal(res, &targets); err != nil {
			return c, err
		}
		for _, t := range targets.TargetInfos {
			if t.Type == "page" {
				res, err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true})
				if err != nil {
					return c, err
				}
				var a struct{ SessionID string }
				json.Unmarshal(res, &a)
				c.session = a.SessionID
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return c, errors.New("no page target")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *DevTools) readLoop() {
	br := bufio.NewReaderSize(c.r, 1<<20)
	var err error
	for {
		var msg []byte
		msg, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var rep cdpReply
		if json.Unmarshal(msg[:len(msg)-1], &rep) != nil {
			continue
		}
		if rep.ID == 0 { // an event
			if rep.Method == "Inspector.targetCrashed" {
				c.mu.Lock()
				c.crashed = true
				for id, ch := range c.wait {
					close(ch)
					delete(c.wait, id)
				}
				c.mu.Unlock()
			}
			continue
		}
		c.mu.Lock()
		ch := c.wait[rep.ID]
		delete(c.wait, rep.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
	c.mu.Lock()
	c.rerr = fmt.Errorf("browser: chromium devtools pipe: %w", err)
	for id, ch := range c.wait {
		close(ch)
		delete(c.wait, id)
	}
	c.mu.Unlock()
}

// call sends a DevTools command (to the page's session unless session is
// "" and the browser is meant) and returns its result.
func (c *DevTools) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	if c.rerr != nil || c.crashed && session != "" {
		c.mu.Unlock()
		return nil, c.fail(method)
	}
	c.next++
	id := c.next
	ch := make(chan cdpReply, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	m := map[string]any{"id": id, "method": method}
	if params != nil {
		m["params"] = params
	}
	if session != "" {
		m["sessionId"] = session
	}
	b, _ := json.Marshal(m)
	c.wmu.Lock()
	_, err := c.w.Write(append(b, 0))
	c.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("browser: chromium %s: %w", method, err)
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			return nil, c.fail(method)
		}
		if rep.Error != nil {
			return nil, &CommandError{Command: method, Code: fmt.Sprint(rep.Error.Code), Message: rep.Error.Message}
		}
		return rep.Result, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.wait, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("browser: chromium %s: %w", method, ctx.Err())
	}
}

func (c *DevTools) fail(method string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return fmt.Errorf("browser: chromium %s: %w", method, ErrCrashed)
	}
	return c.rerr
}

// ErrCrashed is returned (wrapped) by DevTools calls once the page's
// renderer process has crashed.
var ErrCrashed = errors.New("page crashed")

// Navigate starts loading url in the page and returns without waiting.
func (c *DevTools) Navigate(ctx context.Context, url string) error {
	_, err := c.call(ctx, c.session, "Page.navigate", map[string]any{"url": url})
	return err
}

// ExecuteScript runs script as a function body in the page, with args as
// its arguments, and returns the JSON of its return value (awaited if it is
// a promise).
func (c *DevTools) ExecuteScript(ctx context.Context, script string, args ...any) (json.RawMessage, error) {
	a, _ := json.Marshal(args)
	if args == nil {
		a = []byte("[]")
	}
	res, err := c.call(ctx, c.session, "Runtime.evaluate", map[string]any{
		"expression":    "(function(){" + script + "\n}).apply(null, " + string(a) + ")",
		"returnByValue": true, "awaitPromise": true,
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	if e := r.ExceptionDetails; e != nil {
		return nil, fmt.Errorf("browser: chromium script: %s %s", e.Text, e.Exception.Description)
	}
	if r.Result.Value == nil {
		return json.RawMessage("null"), nil
	}
	return r.Result.Value, nil
}

// IgnoreCertificateErrors makes Chromium accept any TLS certificate, such
// as a test server's self-signed one. Call it before Navigate.
func (c *DevTools) IgnoreCertificateErrors(ctx context.Context) error {
	_, err := c.call(ctx, c.session, "Security.setIgnoreCertificateErrors", map[string]any{"ignore": true})
	return err
}

// Screenshot returns a PNG of the page's viewport.
func (c *DevTools) Screenshot(ctx context.Context) ([]byte, error) {
	res, err := c.call(ctx, c.session, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return nil, err
	}
	var r struct{ Data string }
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// Close stops Chromium (its whole process group) and removes its profile.
func (c *DevTools) Close() error {
	c.once.Do(func() { c.err = c.stop() })
	return c.err
}

func (c *DevTools) stop() error {
	var err error
	if c.cmd != nil {
		killGroup(c.cmd)
		<-c.exited
		if !waitGroupGone(c.cmd, 5*time.Second) || !killMatching(mentions(c.dir), 5*time.Second) {
			err = fmt.Errorf("browser: close chromium: processes of group %d survived SIGKILL", c.cmd.Process.Pid)
		}
	}
	if c.w != nil {
		c.w.Close()
	}
	if c.r != nil {
		c.r.Close()
	}
	if e := removeAll(c.dir); e != nil && err == nil {
		err = e
	}
	return err
}
