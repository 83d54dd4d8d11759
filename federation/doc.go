// Package federation lets gateways of different provinces answer each
// other's queries. It holds the configured peers (name, province, service
// root, Ed25519 public key), signs this gateway's requests to them and
// verifies theirs (HTTP message signatures, RFC 9421, with a replay
// cache), fans QIDO-RS study searches out in parallel under a per-peer
// deadline, validates and merges the answers, and checks the provenance
// signature each holding gateway puts on what it serves.
//
// A peer is always addressed by its configured name: no URL is ever taken
// from a request. Everything a peer answers is untrusted input: sizes,
// result counts and UIDs are bounded and checked, and every call has a
// deadline, so a slow or hostile peer costs at most one goroutine and one
// connection for that long.
//
// The HTTP side (routes, middleware) is httpapi/fedapi.
package federation
