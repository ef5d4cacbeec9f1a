// <mx-stream src="/stream"> shows the newest image part of a stream in an
// <img> (its child) and keeps the view alive:
// - it reads the stream with fetch (Accept: multipart/mixed, which WebKit
//   allows and mx serves), so it sees every part's headers;
// - it reconnects when the stream fails or no frame came for `stall` ms
//   (default: 4 frame intervals, at least 2000), after 0.5, 1, 2, ... s, at
//   most `backoff` ms (default 10000);
// - it closes the connection when it leaves the document or the page is
//   hidden, and reconnects when the page is shown again;
// - with the `age` attribute it shows each frame's age from X-Timestamp
//   (Unix seconds; the clocks of server and viewer must agree).
// Properties: age (seconds, or NaN), frames (count), connected (boolean).
// Events: "frame" (detail: {headers, age}), "connect", "disconnect".
class MxStream extends HTMLElement {
  static observedAttributes = ["src"];
  constructor() {
    super();
    this.frames = 0; this.age = NaN; this.connected = false;
    this._img = document.createElement("img");
    this._img.style.cssText = "display:block;max-width:100%";
    this._vis = () => this._sync();
  }
  connectedCallback() {
    if (!this._img.isConnected) this.prepend(this._img);
    this._img.alt = this.getAttribute("alt") || "";
    document.addEventListener("visibilitychange", this._vis);
    this._sync();
  }
  disconnectedCallback() {
    document.removeEventListener("visibilitychange", this._vis);
    this._stop();
  }
  attributeChangedCallback() { this._stop(); this._sync(); }
  // _sync runs the stream when the element is in a visible document.
  _sync() {
    if (this.isConnected && document.visibilityState !== "hidden" && this.getAttribute("src")) {
      if (!this._run) this._loop(this._run = {});
    } else this._stop();
  }
  _stop() {
    if (!this._run) return;
    this._run.stopped = true;
    if (this._run.abort) this._run.abort.abort();
    clearTimeout(this._run.timer);
    if (this._run.wake) this._run.wake();
    this._run = null;
  }
  _num(name, def) { const v = parseFloat(this.getAttribute(name)); return v >= 0 ? v : def; }
  async _loop(run) {
    let fails = 0;
    while (!run.stopped) {
      const ac = (run.abort = new AbortController());
      let last = performance.now(), gap = 0;
      const watch = () => {
        const limit = this._num("stall", Math.max(2000, 4 * gap));
        if (performance.now() - last > limit) ac.abort();
        else run.timer = setTimeout(watch, 250);
      };
      watch();
      try {
        const res = await fetch(this.getAttribute("src"), { headers: { Accept: "multipart/mixed" }, cache: "no-store", signal: ac.signal });
        if (!res.ok) throw new Error("mx-stream: " + res.status);
        this.connected = true; this.dispatchEvent(new Event("connect"));
        for await (const p of parts(res, ac.signal)) {
          if (run.stopped) break;
          const now = performance.now();
          if (this.frames > 0) gap = gap ? 0.8 * gap + 0.2 * (now - last) : now - last;
          last = now;
          fails = 0;
          if (p.type.startsWith("image/")) this._show(p, run);
        }
      } catch (e) {
        if (!run.stopped && e.name !== "AbortError") console.warn(e);
      }
      clearTimeout(run.timer);
      ac.abort();
      if (this.connected) { this.connected = false; this.dispatchEvent(new Event("disconnect")); }
      if (run.stopped) return;
      const wait = Math.min(500 * 2 ** fails++, this._num("backoff", 10000));
      await new Promise((r) => { run.wake = r; run.timer = setTimeout(r, wait); });
    }
  }
  // _show decodes a frame off screen and swaps it in, unless a newer frame
  // came meanwhile: the newest frame wins and no backlog grows.
  async _show(p, run) {
    const ts = parseFloat(p.headers["x-timestamp"]);
    const age = ts > 0 ? Date.now() / 1000 - ts : NaN;
    const url = URL.createObjectURL(new Blob([p.body], { type: p.type }));
    const n = (this._seq = (this._seq || 0) + 1);
    const img = new Image();
    img.src = url;
    try { await img.decode(); } catch { URL.revokeObjectURL(url); return; }
    if (n !== this._seq || run.stopped) return URL.revokeObjectURL(url);
    const old = this._img.src;
    this._img.src = url;
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    this.frames++; this.age = age;
    if (this.hasAttribute("age")) this._label(age);
    this.dispatchEvent(new CustomEvent("frame", { detail: { headers: p.headers, age } }));
  }
  _label(age) {
    if (!this._age) {
      this._age = document.createElement("span");
      this._age.style.cssText = "position:absolute;left:4px;top:4px;padding:1px 4px;font:12px monospace;color:#fff;background:#0008";
      if (getComputedStyle(this).position === "static") this.style.position = "relative";
      this.append(this._age);
    }
    this._age.textContent = isNaN(age) ? "" : age.toFixed(2) + " s";
  }
}
if (!customElements.get("mx-stream")) customElements.define("mx-stream", MxStream);
