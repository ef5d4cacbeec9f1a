package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mxreplace/mx/internal/browser"
	"github.com/mxreplace/mx/internal/mxtest"
)

// tileHashes is a script that returns, for each <img> of the page, a hash
// of the pixels it shows now, or null if it has no frame yet. Page and
// streams are same-origin, so the canvas is not tainted.
const tileHashes = `
const c = document.createElement("canvas");
const g = c.getContext("2d", {willReadFrequently: true});
return [...document.images].map(img => {
	if (!img.naturalWidth) return null;
	c.width = img.naturalWidth; c.height = img.naturalHeight;
	g.drawImage(img, 0, 0);
	let h = 2166136261;
	for (const b of g.getImageData(0, 0, c.width, c.height).data) h = Math.imul(h ^ b, 16777619);
	return h >>> 0;
});`

// TestChromiumTiles loads /tiles?n=12 in Chromium and counts the tiles
// whose pixels change between each of three samples 1 s apart (5 fps).
// Chromium opens at most 6 connections per host over HTTP/1.1, so at most
// 6 tiles play there; over HTTP/2 (-tls) the 12 streams share one
// connection and all play.
func TestChromiumTiles(t *testing.T) {
	t.Parallel()
	browser.Chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	c, err := browser.StartDevTools(ctx, 1024, 768)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := c.IgnoreCertificateErrors(ctx); err != nil { // -tls: self-signed
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, proto string // proto: the page's nextHopProtocol
		flags       []string
		min, max    int
	}{
		{"HTTP/1.1", "http/1.1", nil, 1, 6},
		{"HTTP/2", "h2", []string{"-tls"}, 12, 12},
	} {
		args := append([]string{"-fps", "5", "-size", "160x120"}, tc.flags...)
		base := mxtest.Start(t, app.Path(t), args...).URL
		page := base + "/tiles?n=12"
		if err := c.Navigate(ctx, page); err != nil {
			t.Fatal(err)
		}
		mxtest.Eventually(t, 20*time.Second, "the page and a first frame", func() bool {
			res, err := c.ExecuteScript(ctx, `return location.href === arguments[0] &&
				[...document.images].some(img => img.naturalWidth)`, page)
			if err != nil {
				t.Fatal(err)
			}
			return string(res) == "true"
		})
		sample := func() []*uint32 {
			res, err := c.ExecuteScript(ctx, tileHashes)
			var h []*uint32
			if err == nil {
				err = json.Unmarshal(res, &h)
			}
			if err != nil || len(h) != 12 {
				t.Fatalf("%s: tile hashes %s: %v", tc.name, res, err)
			}
			return h
		}
		res, err := c.ExecuteScript(ctx, `return performance.getEntriesByType("navigation")[0].nextHopProtocol`)
		if err != nil || string(res) != `"`+tc.proto+`"` {
			t.Fatalf("%s: page loaded over %s (%v), want %q", tc.name, res, err, tc.proto)
		}
		time.Sleep(2 * time.Second) // let every tile that will play start
		live := make([]bool, 12)
		for i := range live {
			live[i] = true
		}
		prev := sample()
		for range 2 {
			time.Sleep(time.Second)
			cur := sample()
			for i := range live {
				live[i] = live[i] && prev[i] != nil && cur[i] != nil && *prev[i] != *cur[i]
			}
			prev = cur
		}
		n := 0
		for _, l := range live {
			if l {
				n++
			}
		}
		t.Logf("%s: %d of 12 tiles painted new frames (live: %v)", tc.name, n, live)
		if n < tc.min || n > tc.max {
			t.Errorf("%s: %d tiles painted new frames, want %d to %d", tc.name, n, tc.min, tc.max)
		}
	}
}
