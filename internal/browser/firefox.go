package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// firefoxStartTimeout bounds StartFirefox when its ctx has no deadline.
const firefoxStartTimeout = 60 * time.Second

// closeTimeout is how long Close waits for Firefox to quit on its own before
// killing its process group.
const closeTimeout = 5 * time.Second

// maxMessage bounds the size of a Marionette message (screenshots of big
// pages are the largest).
const maxMessage = 256 << 20

// Marionette is a headless Firefox process and a WebDriver session on it,
// driven through the Marionette remote protocol.
//
// Marionette speaks messages of the form "len:JSON" over TCP, where JSON is
// [0, id, "Command:Name", {params}] for a command and [1, id, error, result]
// for its response.
//
// The session is created with the "none" page load strategy: [Marionette.Navigate]
// returns as soon as navigation has started, which is what is needed for
// documents that never finish loading, such as multipart/x-mixed-replace
// streams. Callers poll the page (for instance with [Marionette.PageText])
// until it shows what they expect.
//
// As seen with Firefox 153esr: a part of a multipart/x-mixed-replace
// document stays in readyState "interactive" until the next part begins,
// and a first part with a body shorter than 14 bytes (such as <h1>one</h1>)
// is not shown at all (the navigation does not even commit) until more
// bytes of the stream arrive.
//
// Methods may be called from several goroutines. Close must be called to
// stop Firefox and remove its temporary profile.
type Marionette struct {
	cmd     *exec.Cmd
	dir     string // temporary directory: profile and log
	logPath string
	exited  chan struct{} // closed once the process has been waited for

	conn net.Conn
	wmu  sync.Mutex // serialises writes to conn

	mu      sync.Mutex
	nextID  int
	pending map[int]chan reply
	readErr error // set when the reader stops; no more responses will arrive

	readerDone chan struct{} // nil until the reader has been started
	closeOnce  sync.Once
	closeErr   error

	// SessionID is the ID of the WebDriver session.
	SessionID string
	// Capabilities are the capabilities Firefox granted the session, as JSON.
	Capabilities json.RawMessage
}

// reply is a Marionette response, or the error that prevented receiving it.
type reply struct {
	err    error
	result json.RawMessage
}

// CommandError is an error returned by Firefox for a Marionette command.
type CommandError struct {
	Command    string // e.g. "WebDriver:Navigate"
	Code       string // WebDriver error code, e.g. "no such window"
	Message    string
	Stacktrace string
}

// Error implements the error interface.
func (e *CommandError) Error() string {
	return fmt.Sprintf("browser: marionette %s: %s: %s", e.Command, e.Code, e.Message)
}

// StartFirefox launches headless Firefox with a fresh temporary profile and
// Marionette enabled, connects to it and creates a WebDriver session.
//
// ctx bounds the start-up only (connection attempts are retried until ctx is
// done; 60 s when ctx has no deadline); Firefox keeps running until Close.
// The profile's user.js turns off everything that would make Firefox reach
// out to the network on its own (updates, telemetry, safe browsing, captive
// portal and connectivity checks, remote settings, ...) and disables proxies.
func StartFirefox(ctx context.Context) (m *Marionette, err error) {
	bin, err := FirefoxPath()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, firefoxStartTimeout)
		defer cancel()
	}

	dir, err := os.MkdirTemp("", "mx-firefox-")
	if err != nil {
		return nil, fmt.Errorf("browser: start firefox: %w", err)
	}
	m = &Marionette{
		dir:     dir,
		logPath: filepath.Join(dir, "firefox.log"),
		exited:  make(chan struct{}),
		pending: make(map[int]chan reply),
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("browser: start firefox: %w; output: %s", err, tailFile(m.logPath, 2048))
			m.stop(false)
			m = nil
		}
	}()

	profile := filepath.Join(dir, "profile")
	if err := os.Mkdir(profile, 0o700); err != nil {
		return m, err
	}
	port, err := freePort()
	if err != nil {
		return m, err
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(userJS(port)), 0o600); err != nil {
		return m, err
	}
	logFile, err := os.Create(m.logPath)
	if err != nil {
		return m, err
	}
	defer logFile.Close() // the child has its own copy

	cmd := exec.Command(bin, "--headless", "--marionette", "--no-remote", "--profile", profile)
	cmd.Dir = dir
	// Firefox keeps crash reports, pending pings and caches under $HOME
	// and the XDG directories: keep them in dir too.
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"MOZ_HEADLESS=1",
		"MOZ_CRASHREPORTER_DISABLE=1",
		"MOZ_CRASHREPORTER=0",
		"MOZ_DISABLE_AUTO_SAFE_MODE=1",
		"MOZ_NO_REMOTE=1",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	newGroupCmd(cmd)
	if err := cmd.Start(); err != nil {
		return m, err
	}
	m.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(m.exited)
	}()

	// Marionette writes its port to MarionetteActivePort in the profile
	// once it listens. Waiting for that file rather than dialing the port
	// blindly makes sure we talk to our Firefox: if another process took the
	// port meanwhile, Firefox fails to listen and quits instead.
	activePort := filepath.Join(profile, "MarionetteActivePort")
	var addr string
	for {
		if b, err := os.ReadFile(activePort); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
				addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
				m.conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err == nil {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return m, fmt.Errorf("waiting for marionette to listen on port %d: %w", port, ctx.Err())
		case <-m.exited:
			return m, fmt.Errorf("firefox exited before marionette was reachable: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
	}

	br := bufio.NewReader(m.conn)
	hello, err := m.readHello(ctx, br)
	if err != nil {
		return m, err
	}
	if hello.ApplicationType != "gecko" {
		return m, fmt.Errorf("unexpected marionette hello from %s: %+v", addr, hello)
	}
	m.readerDone = make(chan struct{})
	go m.readLoop(br)

	res, err := m.call(ctx, "WebDriver:NewSession", map[string]any{
		"pageLoadStrategy": "none",
	})
	if err != nil {
		return m, err
	}
	var sess struct {
		SessionID    string          `json:"sessionId"`
		Capabilities json.RawMessage `json:"capabilities"`
	}
	if err := json.Unmarshal(res, &sess); err != nil {
		return m, fmt.Errorf("decoding WebDriver:NewSession result: %w", err)
	}
	m.SessionID, m.Capabilities = sess.SessionID, sess.Capabilities
	return m, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// userJS returns the preferences for a Firefox profile whose Marionette
// listens on port and which stays off the network unless told to load a URL.
func userJS(port int) string {
	prefs := []struct {
		name  string
		value any
	}{
		{"marionette.port", port},
		// No proxy: loopback URLs must go direct whatever the environment says.
		{"network.proxy.type", 0},
		{"network.proxy.allow_hijacking_localhost", false},
		// First run, welcome and home pages, default browser check.
		{"browser.shell.checkDefaultBrowser", false},
		{"browser.startup.homepage_override.mstone", "ignore"},
		{"browser.startup.homepage", "about:blank"},
		{"browser.startup.page", 0},
		{"browser.startup.firstrunSkipsHomepage", true},
		{"startup.homepage_welcome_url", "about:blank"},
		{"startup.homepage_welcome_url.additional", ""},
		{"browser.aboutwelcome.enabled", false},
		{"trailhead.firstrun.didSeeAboutWelcome", true},
		{"browser.newtabpage.enabled", false},
		{"browser.newtabpage.activity-stream.feeds.telemetry", false},
		{"browser.newtabpage.activity-stream.telemetry", false},
		{"browser.newtabpage.activity-stream.feeds.section.topstories", false},
		{"browser.newtabpage.activity-stream.feeds.snippets", false},
		{"browser.newtabpage.activity-stream.showSponsored", false},
		{"browser.newtabpage.activity-stream.showSponsoredTopSites", false},
		{"browser.topsites.contile.enabled", false},
		{"browser.uitour.enabled", false},
		{"browser.discovery.enabled", false},
		{"termsofuse.bypassNotification", true},
		// Session restore and quit prompts.
		{"browser.sessionstore.resume_from_crash", false},
		{"browser.startup.couldRestoreSession.count", -1},
		{"browser.tabs.warnOnClose", false},
		{"browser.warnOnQuit", false},
		{"toolkit.startup.max_resumed_crashes", -1},
		// Data reporting and telemetry.
		{"datareporting.policy.dataSubmissionEnabled", false},
		{"datareporting.policy.dataSubmissionPolicyBypassNotification", true},
		{"datareporting.policy.firstRunURL", ""},
		{"datareporting.healthreport.uploadEnabled", false},
		{"datareporting.healthreport.service.enabled", false},
		{"datareporting.usage.uploadEnabled", false},
		{"toolkit.telemetry.enabled", false},
		{"toolkit.telemetry.unified", false},
		{"toolkit.telemetry.server", "data:,"},
		{"toolkit.telemetry.archive.enabled", false},
		{"toolkit.telemetry.newProfilePing.enabled", false},
		{"toolkit.telemetry.shutdownPingSender.enabled", false},
		{"toolkit.telemetry.updatePing.enabled", false},
		{"toolkit.telemetry.bhrPing.enabled", false},
		{"toolkit.telemetry.firstShutdownPing.enabled", false},
		{"toolkit.telemetry.coverage.opt-out", true},
		{"toolkit.coverage.opt-out", true},
		{"browser.ping-centre.telemetry", false},
		{"app.normandy.enabled", false},
		{"app.normandy.api_url", ""},
		{"app.shield.optoutstudies.enabled", false},
		// Updates of the application, add-ons, search engines, plugins.
		{"app.update.auto", false},
		{"app.update.enabled", false},
		{"app.update.checkInstallTime", false},
		{"app.update.disabledForTesting", true},
		{"app.update.staging.enabled", false},
		{"app.update.url", ""},
		{"extensions.update.enabled", false},
		{"extensions.update.autoUpdateDefault", false},
		{"extensions.getAddons.cache.enabled", false},
		{"extensions.systemAddon.update.enabled", false},
		{"extensions.blocklist.enabled", false},
		{"extensions.pocket.enabled", false},
		{"browser.search.update", false},
		{"browser.region.network.url", ""},
		{"browser.region.update.enabled", false},
		{"media.gmp-manager.url", ""},
		{"media.gmp-gmpopenh264.enabled", false},
		{"media.gmp-widevinecdm.enabled", false},
		// Safe browsing.
		{"browser.safebrowsing.malware.enabled", false},
		{"browser.safebrowsing.phishing.enabled", false},
		{"browser.safebrowsing.downloads.enabled", false},
		{"browser.safebrowsing.downloads.remote.enabled", false},
		{"browser.safebrowsing.blockedURIs.enabled", false},
		{"browser.safebrowsing.provider.google.updateURL", ""},
		{"browser.safebrowsing.provider.google4.updateURL", ""},
		{"browser.safebrowsing.provider.mozilla.updateURL", ""},
		// Captive portal and connectivity checks, DNS over HTTPS, push.
		{"network.captive-portal-service.enabled", false},
		{"captivedetect.canonicalURL", ""},
		{"network.connectivity-service.enabled", false},
		{"network.manage-offline-status", false},
		{"network.trr.mode", 5},
		{"doh-rollout.disable-heuristics", true},
		{"dom.push.connection.enabled", false},
		{"dom.push.serverURL", ""},
		// Speculative connections and prefetching.
		{"network.dns.disablePrefetch", true},
		{"network.prefetch-next", false},
		{"network.http.speculative-parallel-limit", 0},
		{"browser.urlbar.speculativeConnect.enabled", false},
		{"browser.urlbar.suggest.searches", false},
		{"browser.urlbar.merino.endpointURL", ""},
		// Remote settings and other services.
		{"services.settings.server", "data:,#remote-settings-dummy/v1"},
		{"security.remote_settings.intermediates.enabled", false},
		{"security.remote_settings.crlite_filters.enabled", false},
		{"security.OCSP.enabled", 0},
		{"identity.fxaccounts.enabled", false},
		{"services.sync.enabled", false},
		{"geo.provider.network.url", ""},
		{"geo.enabled", false},
		{"network.sntp.pools", ""},
		{"browser.translations.enable", false},
		{"browser.ml.enable", false},
		{"browser.backup.enabled", false},
		{"browser.pagethumbnails.capturing_disabled", true},
		{"signon.rememberSignons", false},
		{"dom.ipc.reportProcessHangs", false},
		{"dom.max_script_run_time", 0},
		{"browser.dom.window.dump.enabled", false},
	}
	var b strings.Builder
	for _, p := range prefs {
		v, _ := json.Marshal(p.value)
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", p.name, v)
	}
	return b.String()
}

// marionetteHello is the first message Marionette sends on a connection.
type marionetteHello struct {
	ApplicationType    string `json:"applicationType"`
	MarionetteProtocol int    `json:"marionetteProtocol"`
}

// readHello reads Marionette's greeting, honouring ctx.
func (m *Marionette) readHello(ctx context.Context, br *bufio.Reader) (marionetteHello, error) {
	var h marionetteHello
	if dl, ok := ctx.Deadline(); ok {
		m.conn.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { m.conn.SetReadDeadline(time.Now()) })
	msg, err := readMessage(br)
	if !stop() && ctx.Err() != nil {
		return h, fmt.Errorf("reading marionette hello: %w", ctx.Err())
	}
	if err != nil {
		return h, fmt.Errorf("reading marionette hello: %w", err)
	}
	m.conn.SetReadDeadline(time.Time{})
	if err := json.Unmarshal(msg, &h); err != nil {
		return h, fmt.Errorf("decoding marionette hello %q: %w", msg, err)
	}
	return h, nil
}

// readMessage reads one "len:JSON" message.
func readMessage(br *bufio.Reader) ([]byte, error) {
	head, err := br.ReadSlice(':')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("marionette: bad message length prefix %.20q", head)
		}
		return nil, err
	}
	n, err := strconv.Atoi(string(head[:len(head)-1]))
	if err != nil || n < 0 || n > maxMessage {
		return nil, fmt.Errorf("marionette: bad message length prefix %.20q", head)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

// readLoop reads responses and hands them to the waiting calls until the
// connection fails or is closed.
func (m *Marionette) readLoop(br *bufio.Reader) {
	defer close(m.readerDone)
	var err error
	for {
		var msg []byte
		msg, err = readMessage(br)
		if err != nil {
			break
		}
		var resp []json.RawMessage
		if err := json.Unmarshal(msg, &resp); err != nil || len(resp) != 4 {
			continue // not a response; Marionette sends nothing else
		}
		var typ, id int
		if json.Unmarshal(resp[0], &typ) != nil || typ != 1 || json.Unmarshal(resp[1], &id) != nil {
			continue
		}
		m.mu.Lock()
		ch := m.pending[id]
		delete(m.pending, id)
		m.mu.Unlock()
		if ch == nil {
			continue // the caller gave up (ctx done)
		}
		r := reply{result: resp[3]}
		if e := resp[2]; len(e) > 0 && string(e) != "null" {
			var js jsonShape
			if err := json.Unmarshal(e, &js); err != nil {
				r.err = fmt.Errorf("marionette: undecodable error %.200s", e)
			} else {
				r.err = &CommandError{Code: js.Error, Message: js.Message, Stacktrace: js.Stacktrace}
			}
		}
		ch <- r
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = errors.New("marionette connection closed")
	}
	m.mu.Lock()
	m.readErr = err
	for id, ch := range m.pending {
		ch <- reply{err: err}
		delete(m.pending, id)
	}
	m.mu.Unlock()
}

// call sends command name with params and waits for its response, or for
// ctx to be done.
func (m *Marionette) call(ctx context.Context, name string, params any) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("browser: marionette %s: %w", name, err)
	}
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan reply, 1)
	m.mu.Lock()
	if m.readErr != nil {
		err := m.readErr
		m.mu.Unlock()
		return nil, m.connErr(name, err)
	}
	m.nextID++
	id := m.nextID
	m.pending[id] = ch
	m.mu.Unlock()

	body, err := json.Marshal([]any{0, id, name, params})
	if err != nil {
		m.forget(id)
		return nil, fmt.Errorf("browser: marionette %s: %w", name, err)
	}
	m.wmu.Lock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(30 * time.Second)
	}
	m.conn.SetWriteDeadline(dl)
	_, err = m.conn.Write(append([]byte(strconv.Itoa(len(body))+":"), body...))
	m.wmu.Unlock()
	if err != nil {
		m.forget(id)
		// A partial write desynchronises the stream: give up on it.
		m.conn.Close()
		return nil, m.connErr(name, err)
	}

	select {
	case r := <-ch:
		if r.err != nil {
			var ce *CommandError
			if errors.As(r.err, &ce) {
				ce.Command = name
				return nil, ce
			}
			return nil, m.connErr(name, r.err)
		}
		return r.result, nil
	case <-ctx.Done():
		m.forget(id)
		return nil, fmt.Errorf("browser: marionette %s: %w", name, ctx.Err())
	}
}

// forget drops the pending call id; a late response to it is discarded.
func (m *Marionette) forget(id int) {
	m.mu.Lock()
	delete(m.pending, id)
	m.mu.Unlock()
}

// connErr describes a failure of the connection itself, adding Firefox's
// output if the process has died.
func (m *Marionette) connErr(name string, err error) error {
	select {
	case <-m.exited:
		return fmt.Errorf("browser: marionette %s: %w (firefox exited: %v; output: %s)",
			name, err, m.cmd.ProcessState, tailFile(m.logPath, 2048))
	default:
		return fmt.Errorf("browser: marionette %s: %w", name, err)
	}
}

// jsonShape is the JSON form of a Marionette error.
type jsonShape struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	Stacktrace string `json:"stacktrace"`
}

// Call sends an arbitrary Marionette command (such as "WebDriver:GetTitle")
// with params, which must marshal to a JSON object or be nil, and returns
// its raw result. Most WebDriver commands wrap their return value as
// {"value": ...}.
func (m *Marionette) Call(ctx context.Context, command string, params any) (json.RawMessage, error) {
	return m.call(ctx, command, params)
}

// Navigate makes the browser load url. Because of the "none" page load
// strategy it returns as soon as navigation has started, without waiting for
// the page to load; the previous document may still be current for a while.
func (m *Marionette) Navigate(ctx context.Context, url string) error {
	_, err := m.call(ctx, "WebDriver:Navigate", map[string]any{"url": url})
	return err
}

// ExecuteScript runs script as the body of a function in the current
// document, with args available as the arguments array, and returns the
// JSON encoding of the function's return value (null for undefined).
func (m *Marionette) ExecuteScript(ctx context.Context, script string, args ...any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	res, err := m.call(ctx, "WebDriver:ExecuteScript", map[string]any{"script": script, "args": args})
	if err != nil {
		return nil, err
	}
	return unwrapValue("WebDriver:ExecuteScript", res)
}

// Screenshot returns a PNG screenshot of the current document's viewport:
// 1366x682 pixels in headless Firefox's default 1366x768 window (resize it
// with Call(ctx, "WebDriver:SetWindowRect", map[string]any{"width": w,
// "height": h})).
func (m *Marionette) Screenshot(ctx context.Context) ([]byte, error) {
	const name = "WebDriver:TakeScreenshot"
	res, err := m.call(ctx, name, map[string]any{"full": false})
	if err != nil {
		return nil, err
	}
	v, err := unwrapValue(name, res)
	if err != nil {
		return nil, err
	}
	var b64 string
	if err := json.Unmarshal(v, &b64); err != nil {
		return nil, fmt.Errorf("browser: marionette %s: decoding result: %w", name, err)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("browser: marionette %s: decoding base64: %w", name, err)
	}
	return png, nil
}

// PageText returns the rendered text of the current document
// (document.documentElement.innerText, or its textContent when the document
// is not rendered), or "" when there is no document element yet.
func (m *Marionette) PageText(ctx context.Context) (string, error) {
	res, err := m.ExecuteScript(ctx, `const e = document.documentElement;
if (!e) return "";
const t = e.innerText;
return typeof t === "string" ? t : (e.textContent || "");`)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(res, &s); err != nil {
		return "", fmt.Errorf("browser: PageText: decoding %s: %w", res, err)
	}
	return s, nil
}

// unwrapValue returns v from a {"value": v} result.
func unwrapValue(name string, res json.RawMessage) (json.RawMessage, error) {
	var w struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(res, &w); err != nil {
		return nil, fmt.Errorf("browser: marionette %s: decoding result %.100s: %w", name, res, err)
	}
	if w.Value == nil {
		return json.RawMessage("null"), nil
	}
	return w.Value, nil
}

// Close asks Firefox to quit with Marionette:Quit (which also ends the
// session; WebDriver:DeleteSession first would make Quit fail), kills its
// whole process group once it has exited or after 5 s, and removes the
// temporary profile. It returns an error only if some process survived or
// the profile could not be removed. Calling Close more than once returns
// the first result.
func (m *Marionette) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.stop(true) })
	return m.closeErr
}

// stop shuts Firefox down (politely first if polite) and removes m.dir.
func (m *Marionette) stop(polite bool) error {
	var errs []error
	if m.cmd != nil {
		if polite && m.readerDone != nil && m.SessionID != "" {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			// Marionette:Quit needs the session and ends it; errors are
			// expected if Firefox has died: what matters is whether it is
			// gone afterwards.
			_, _ = m.call(ctx, "Marionette:Quit", map[string]any{"flags": []string{"eForceQuit"}})
			select {
			case <-m.exited:
			case <-ctx.Done(): // hung: killed below
			}
			cancel()
		}
		// Kill the rest of the group (content processes, crash helper) in
		// any case, then reap the main process and wait for the others to
		// be reaped by their new parent.
		killGroup(m.cmd)
		<-m.exited
		// The crash helper runs in a session of its own, with Firefox's
		// PID as first argument; it normally exits with Firefox.
		pid := strconv.Itoa(m.cmd.Process.Pid)
		crashHelper := func(args []string) bool {
			return len(args) > 1 && filepath.Base(args[0]) == "crashhelper" && args[1] == pid
		}
		if !waitGroupGone(m.cmd, 5*time.Second) ||
			!killMatching(mentions(m.dir), 5*time.Second) ||
			!killMatching(crashHelper, 5*time.Second) {
			errs = append(errs, fmt.Errorf("firefox processes (group %d) survived SIGKILL", m.cmd.Process.Pid))
		}
	}
	if m.conn != nil {
		m.conn.Close()
	}
	if m.readerDone != nil {
		<-m.readerDone
	}
	if err := removeAll(m.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("browser: close firefox: %w", err)
	}
	return nil
}

// removeAll removes dir, retrying briefly in case processes that were just
// killed were still writing into it.
func removeAll(dir string) error {
	var err error
	for range 10 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}
