// The viewer page: it asks for the same URL as multipart/mixed and shows
// each part as the browser would show a document of its type, replacing the
// whole page. An HTML part's scripts do not run (its inline event handler
// attributes do); its <title> becomes the page's; relative URLs resolve
// against the stream's URL. The last part stays when the stream ends.
(async () => {
  const parse = (html) => new DOMParser().parseFromString(html, "text/html").documentElement;
  const put = (root) => document.replaceChild(document.adoptNode(root), document.documentElement);
  const charset = (type) => (/charset="?([\w-]+)/i.exec(type) || [, "utf-8"])[1];
  let img = null, url = null, gen = 0;
  const show = async (p) => {
    const g = ++gen, mt = p.type.split(";")[0].trim().toLowerCase();
    if (mt.startsWith("image/")) {
      const u = URL.createObjectURL(new Blob([p.body], { type: p.type }));
      const next = new Image();
      next.src = u;
      await next.decode().catch(() => {});
      if (g !== gen) return URL.revokeObjectURL(u); // a newer part came meanwhile
      if (!img || !img.isConnected) {
        put(parse('<meta name="viewport" content="width=device-width"><body style="margin:0;height:100vh;display:flex;align-items:center;justify-content:center;background:#0e0e0e">'));
        document.body.append(next);
      } else img.replaceWith(next);
      next.style.cssText = "max-width:100%;max-height:100%";
      if (url) URL.revokeObjectURL(url);
      img = next; url = u;
      return;
    }
    let text;
    try { text = new TextDecoder(charset(p.type)).decode(p.body); } catch { text = new TextDecoder().decode(p.body); }
    if (mt === "text/html") {
      put(parse(text));
    } else {
      put(parse('<meta name="color-scheme" content="light dark"><pre style="word-wrap:break-word;white-space:pre-wrap"></pre>'));
      document.querySelector("pre").textContent = mt.startsWith("text/") ? text : `(${p.type}, ${p.body.length} bytes)`;
    }
    img = null;
    if (url) URL.revokeObjectURL(url), (url = null);
  };
  try {
    const res = await fetch(location.href, { headers: { Accept: "multipart/mixed" }, cache: "no-store" });
    if (!res.ok) throw new Error(res.status + " " + res.statusText);
    for await (const p of parts(res)) if (!p.headers["mx-final"]) show(p);
  } catch (e) {
    console.error("mx:", e);
    if (gen === 0) document.body.textContent = "mx: " + e.message;
  }
})();
