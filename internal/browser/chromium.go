package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultScreenshotTimeout is the page time Chromium is given before the
// screenshot when ChromiumScreenshot is called with a timeout <= 0.
const DefaultScreenshotTimeout = 2 * time.Second

// chromiumGrace is how much longer than the requested page timeout the
// Chromium process may run (start-up, rendering, writing the file) before
// it is killed, when ctx itself does not end sooner.
const chromiumGrace = 30 * time.Second

// chromiumNoise are substrings of the lines of Chromium's output that are
// always there on a machine without D-Bus (or, for the Debian wrapper
// script, with several /dev/shm mounts) and say nothing about a failure.
var chromiumNoise = []string{"ERROR:dbus/", "unexpected operator"}

// ChromiumScreenshot loads url in a new headless Chromium process with a
// width x height window and writes a PNG screenshot of it to pngPath.
//
// timeout is passed to Chromium as --timeout: the screenshot is taken once
// the page has loaded or timeout has passed, whichever comes first, which
// makes it usable with pages that never finish loading (such as a live
// multipart/x-mixed-replace stream). A timeout <= 0 means
// [DefaultScreenshotTimeout].
//
// Each call uses a fresh temporary directory as user data directory and
// $HOME, removed on return. If ctx is done, or the process runs for more
// than timeout plus 30 s, the whole Chromium process group is killed. On
// return no process started by the call is left: the group is killed in
// any case, and crash handlers, which leave the group, are found through
// their command line. On failure the returned error includes the tail of
// Chromium's output.
//
// Note that Chromium renders a multipart/x-mixed-replace top-level
// document as an image (centered on a dark background; HTML parts show as
// a broken image), and shows a part only once the header block of the next
// part has arrived.
func ChromiumScreenshot(ctx context.Context, url, pngPath string, width, height int, timeout time.Duration) error {
	bin, err := ChromiumPath()
	if err != nil {
		return err
	}
	if width <= 0 || height <= 0 {
		return fmt.Errorf("browser: chromium screenshot: invalid window size %dx%d", width, height)
	}
	if timeout <= 0 {
		timeout = DefaultScreenshotTimeout
	}
	abs, err := filepath.Abs(pngPath)
	if err != nil {
		return fmt.Errorf("browser: chromium screenshot: %w", err)
	}
	// Remove a stale file so that its presence afterwards proves success.
	if err := os.Remove(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("browser: chromium screenshot: %w", err)
	}

	tmp, err := os.MkdirTemp("", "mx-chromium-")
	if err != nil {
		return fmt.Errorf("browser: chromium screenshot: %w", err)
	}
	defer os.RemoveAll(tmp)
	logPath := filepath.Join(tmp, "output.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("browser: chromium screenshot: %w", err)
	}
	defer logFile.Close()

	ctx, cancel := context.WithTimeout(ctx, timeout+chromiumGrace)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin,
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--user-data-dir="+filepath.Join(tmp, "profile"),
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"--screenshot="+abs,
		"--timeout="+strconv.FormatInt(timeout.Milliseconds(), 10),
		url,
	)
	cmd.Dir = tmp
	// Chromium's crash handlers keep their database under $HOME and run in
	// sessions of their own: keep them in tmp, where they can be found.
	cmd.Env = append(os.Environ(),
		"HOME="+tmp,
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
		"XDG_DATA_HOME="+filepath.Join(tmp, "data"),
	)
	// A file rather than a pipe: Wait must not block on helper processes
	// that inherited the descriptor.
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	newGroupCmd(cmd)
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	runErr := cmd.Run()
	// Whatever happened, take the helpers (zygote, utility, crashpad, ...)
	// down with the browser.
	killGroup(cmd)
	if !waitGroupGone(cmd, 5*time.Second) || !killMatching(mentions(tmp), 5*time.Second) {
		return fmt.Errorf("browser: chromium screenshot of %s: some chromium processes survived SIGKILL", url)
	}

	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("browser: chromium screenshot of %s: killed after %v: %w; output: %s",
			url, time.Since(start).Round(time.Millisecond), ctxErr, tailFile(logPath, 2048, chromiumNoise...))
	}
	if runErr != nil {
		return fmt.Errorf("browser: chromium screenshot of %s: %w; output: %s", url, runErr, tailFile(logPath, 2048, chromiumNoise...))
	}
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		return fmt.Errorf("browser: chromium screenshot of %s: no screenshot written to %s; output: %s",
			url, abs, tailFile(logPath, 2048, chromiumNoise...))
	}
	return nil
}
