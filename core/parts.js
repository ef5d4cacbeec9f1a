// parts reads the body of a multipart response (multipart/mixed or
// x-mixed-replace) and yields each part as {headers, type, body} once it is
// complete. Header names are lower case; body is a Uint8Array. A part with a
// Content-Length is complete after that many bytes, others at the next
// delimiter. It returns at the close delimiter or the end of the body.
async function* parts(res, signal) {
  const m = /boundary="?([^";,\s]+)/i.exec(res.headers.get("Content-Type") || "");
  if (!m) throw new Error("mx: no boundary in " + res.headers.get("Content-Type"));
  const delim = new TextEncoder().encode("\r\n--" + m[1]);
  const rd = res.body.getReader();
  const dec = new TextDecoder();
  let buf = new Uint8Array([13, 10]); // so that the first delimiter matches too
  let chunks = [], extra = 0;
  // fill reads until buf holds at least n bytes; false at the end.
  const fill = async (n) => {
    while (buf.length + extra < n) {
      const { done, value } = await rd.read();
      if (done) return false;
      chunks.push(value);
      extra += value.length;
    }
    if (chunks.length) {
      const b = new Uint8Array(buf.length + extra);
      b.set(buf);
      let o = buf.length;
      for (const c of chunks) { b.set(c, o); o += c.length; }
      buf = b; chunks = []; extra = 0;
    }
    return true;
  };
  // find returns the index of p in buf at or after from, reading as needed.
  const find = async (p, from) => {
    for (;;) {
      for (let i = buf.indexOf(p[0], from); i >= 0 && i + p.length <= buf.length; i = buf.indexOf(p[0], i + 1)) {
        let j = 1;
        while (j < p.length && buf[i + j] === p[j]) j++;
        if (j === p.length) return i;
      }
      from = Math.max(from, buf.length - p.length + 1);
      if (!(await fill(buf.length + 1))) return -1;
    }
  };
  const crlf = new Uint8Array([13, 10]), blank = new Uint8Array([13, 10, 13, 10]);
  let at = await find(delim, 0);
  try {
    while (at >= 0 && !(signal && signal.aborted)) {
      // After the delimiter: "--" ends the stream; else skip to the line's end.
      if (!(await fill(at + delim.length + 2))) return;
      const t = at + delim.length;
      if (buf[t] === 45 && buf[t + 1] === 45) return;
      const eol = await find(crlf, t);
      if (eol < 0) return;
      let hs = eol + 2, he;
      if (!(await fill(hs + 2))) return;
      if (buf[hs] === 13 && buf[hs + 1] === 10) he = hs; // no header fields
      else if ((he = await find(blank, hs)) < 0) return;
      else he += 2;
      const headers = {};
      for (const line of dec.decode(buf.subarray(hs, he)).split("\r\n")) {
        const c = line.indexOf(":");
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      const start = he + 2, n = parseInt(headers["content-length"], 10);
      const type = headers["content-type"] || "application/octet-stream";
      if (n >= 0) { // complete now: yield before waiting for the delimiter
        if (!(await fill(start + n))) return;
        yield { headers, type, body: buf.slice(start, start + n) };
        at = await find(delim, start + n);
      } else {
        at = await find(delim, start);
        if (at < 0) return;
        yield { headers, type, body: buf.slice(start, at) };
      }
      if (at > 0) { buf = buf.subarray(at); at = 0; }
    }
  } finally {
    rd.cancel().catch(() => {});
  }
}
