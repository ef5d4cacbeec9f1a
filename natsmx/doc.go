// Package natsmx carries the parts of a [core.Broadcaster] across machines
// through NATS, so that one live source can be served by many replicas.
//
// An [Origin] publishes each part to a NATS subject as one message (the
// part's header as NATS headers, its body as the payload) and answers
// requests for the latest part. An [Edge] serves a subject to local viewers
// through a local core.Broadcaster: the latest part wins, a snapshot and
// stats are at hand, streams end cleanly, and each viewer costs what a
// viewer of a local Broadcaster costs. An Edge holds its NATS subscription
// only while it has viewers; the first viewer gets the latest part at once,
// from the Origin, not at the next publish.
//
//	origin:  camera -> Origin.Publish -> core.Broadcaster -> local viewers
//	                                  \-> NATS subject (one message per part)
//	edge:    NATS subject -> Edge (local core.Broadcaster) -> viewers
//
// Core NATS delivers at most once, which suits a stream where the latest
// part wins: nothing queues anywhere. The Origin sends from its own
// goroutine and skips to the newest part when the connection is slow, so
// Publish never waits on the network; while its connection is down it sends
// nothing (the client would deliver a backlog late, all at once), and once
// reconnected it sends its latest part again. An Edge's subscription keeps
// only the newest message until the Edge publishes it; when the Edge falls
// so far behind that NATS drops messages (beyond EdgeOptions.PendingParts),
// it asks the Origin for the latest part. A connection that drops and
// reconnects, to any node of a cluster, shows viewers a gap: their streams
// stay open, and the Edge asks for the latest part again once reconnected.
//
// Each message carries two headers of its own, [OriginHeader] (an id per
// Origin) and [SeqHeader] (a counter per Origin): an Edge drops a part that
// is not newer than one it has already published, and removes both before
// its viewers see the part. A part marked core.Part.Last also carries
// [LastHeader]: it ends the stream of every viewer, on the Origin and on
// every Edge, as it would on one Broadcaster. A message without these
// headers (from a publisher that is not an Origin) is served as it comes.
// The latest part is asked for on the subject [LatestSubject] names and
// answered by the Origin from memory, not kept in JetStream: no frame is
// stored or replicated, any NATS server will do, and it costs nothing while
// no viewer joins.
//
// The size of a NATS message is bounded by the server's max_payload (1 MB
// by default; up to 8 MB is reasonable). Origin.Publish refuses a part that
// would not fit, with an error wrapping [nats.ErrMaxPayload].
//
// natsmx takes a *nats.Conn that the caller connects and closes. For an
// edge or origin that should outlive any one NATS node, connect with
// nats.MaxReconnects(-1) and give it the URLs of several nodes (a cluster
// also tells its clients about its other nodes).
package natsmx

// The headers an Origin adds to each message.
const (
	// OriginHeader identifies the Origin that published a message; it
	// changes when an origin restarts.
	OriginHeader = "Mx-Origin"
	// SeqHeader numbers the parts of one Origin from 1.
	SeqHeader = "Mx-Seq"
	// LastHeader, set to "1", marks a part published as core.Part.Last.
	LastHeader = "Mx-Last"
)

// LatestSubject returns the subject on which the Origin of subject answers
// requests for its latest part: subject + ".latest".
func LatestSubject(subject string) string { return subject + ".latest" }
