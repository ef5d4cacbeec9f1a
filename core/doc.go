// Package core is the framework-independent engine of mx: HTTP server push
// with multipart/x-mixed-replace.
//
// A multipart/x-mixed-replace response stays open and carries a sequence of
// parts. A browser replaces what it shows each time a part is complete. IP
// cameras stream MJPEG into a plain <img> this way, and a page can update
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
//	<last part>\r\n--B--\r\n      a clean end
//
// mx writes the delimiter right after each body, in the same write and
// flush, so a reader knows at once that the part is complete.
// mime/multipart.Writer ends a part only when the next one starts, which
// keeps every frame one frame late.
//
// A stream ends exactly when its source marks the last part
// ([Part.Last]): the close delimiter follows that body. When the end comes
// unannounced (the source returns, the server shuts down), a reader already
// expects another part. [Writer.Close] then repeats the last part, marked
// "Mx-Final: repeat", before the close delimiter: browsers keep showing it,
// and [Read] drops the repeat. A body never contains its stream's delimiter
// ([ErrDelimiter]), so no input can forge parts.
//
// The pieces:
//   - [Part]: a header and a body, with constructors for common types.
//   - [Writer]: frames parts on any io.Writer.
//   - [Serve] and [Handler]: the net/http side (headers, flushing, write
//     deadlines, client disconnects, per-client wire [Mode]).
//   - [NewServer] and [Run]: an http.Server safe to expose, and a graceful
//     shutdown that ends every stream cleanly; [DirectWrites] sends an
//     HTTP/1.1 stream's parts straight to the connection.
//   - [Broadcaster]: one producer, many viewers, the latest part wins.
//   - [Read] and [ReadResponse]: the client side, a stream back into parts.
//   - Negotiation in Serve: a Chromium or WebKit browser's top-level visit
//     gets a small viewer page that shows each part on time ([PagePolicy]);
//     a client whose Accept names multipart/mixed gets the same parts as
//     [MixedType] (fetch readers, htmx's hx-multipart).
//   - [LiveViewScript] and [LiveViewHandler]: <mx-stream>, a live view that
//     reconnects and lets its connection go when removed or hidden.
//
// A [Source] produces the parts of one response. It is called once per
// request with the request's context and must stop when that context is
// done.
package core
