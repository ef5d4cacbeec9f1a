// Package core is the framework-independent engine of mx: HTTP server push
// with multipart/x-mixed-replace.
//
// A multipart/x-mixed-replace response stays open and carries a sequence of
// parts; a browser replaces what it shows each time a part is complete. This
// is how IP cameras stream MJPEG into a plain <img>, and how a page can update
// itself without JavaScript. On the wire (boundary B):
//
//	Content-Type: multipart/x-mixed-replace; boundary=B
//
//	--B\r\n
//	Content-Type: image/jpeg\r\n
//	Content-Length: 48213\r\n
//	\r\n
//	<48213 bytes>\r\n--B\r\n      the delimiter goes out with the part
//	...
//	<last part repeated>\r\n--B--\r\n   a clean end
//
// Unlike mime/multipart.Writer, which ends a part only when the next one
// starts, mx writes the delimiter right after each body, in the same write and
// flush, so a reader knows the part is complete at once.
//
// The end of a stream needs care: after "\r\n--B\r\n" a reader expects another
// part, so a bare close delimiter would be malformed ("--B--" in place of a
// header block) or would make an empty part that a browser shows as a blank
// page. [Writer.Close] therefore repeats the last part, marked with the
// header "Mx-Final: repeat", and ends it with the close delimiter. Firefox
// keeps showing the last part; Go's mime/multipart and curl see no empty
// part and no error; ffmpeg decodes every frame and exits 0; and the close
// delimiter tells a clean end from a cut connection. [Read] drops the marked repeat so its caller sees each
// part once.
//
// The pieces:
//   - [Part]: a header and a body, with constructors for common types.
//   - [Writer]: frames parts on any io.Writer.
//   - [Serve] and [Handler]: the net/http side (headers, flushing, write
//     deadlines, client disconnects, per-client wire [Mode]).
//   - [Broadcaster]: one producer, many viewers, the latest part wins.
//   - [Read] and [ReadResponse]: the client side, a stream back into parts.
//   - Negotiation in Serve: a Chromium or WebKit browser's top-level visit
//     gets a small viewer page that shows each part on time ([PagePolicy]);
//     a client whose Accept names multipart/mixed gets the same parts as
//     [MixedType] (fetch readers, htmx's hx-multipart).
//   - [LiveViewScript] and [LiveViewHandler]: <mx-stream>, a live view that
//     reconnects and lets its connection go when removed or hidden.
//
// A [Source] produces the parts of one response; it is called once per
// request with the request's context and must stop when that context is done.
package core
