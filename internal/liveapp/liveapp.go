// Package liveapp holds what the two live example apps, examples/mjpeg (on
// echo) and examples/relay (on gin), share: their routes, the Broadcaster
// settings, the access flags (HTTP Basic auth and CORS) and the HTML page.
//
// Each app wires these into its own framework; the logic lives here once.
// An app serves
//
//	GET /          the page: the live <img> and a few facts and links
//	GET /stream    the stream: one multipart/x-mixed-replace response per viewer
//	GET /snapshot  the latest frame as one image/jpeg response
//
// behind, when asked for, CORS and then Basic auth (CORS first, so that a
// browser's preflight, which carries no credentials, gets its answer).
package liveapp

import (
	"time"

	"github.com/mxreplace/mx/core"
)

// The routes of a live app.
const (
	PagePath     = "/"
	StreamPath   = "/stream"
	SnapshotPath = "/snapshot"
)

// IdleRepeat is the Broadcaster's IdleRepeat in both apps: a viewer that got
// nothing new for a second gets the latest frame again, as ustreamer does,
// so that proxies keep the connection and WebKit shows a held frame.
const IdleRepeat = time.Second

// NewBroadcaster returns the Broadcaster of a live app: X-Timestamp on every
// part (taken at publish) and IdleRepeat. dropRepeats drops a part equal to
// the previous one (the relay uses it, since its upstream may repeat frames
// itself).
func NewBroadcaster(dropRepeats bool) *core.Broadcaster {
	return &core.Broadcaster{Timestamps: true, IdleRepeat: IdleRepeat, DropRepeats: dropRepeats}
}
