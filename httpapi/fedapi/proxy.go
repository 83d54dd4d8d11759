package fedapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/recognition"
)

// proxy relays a WADO-RS (or in-study QIDO-RS) request to a peer, named
// by the URL, never addressed by it: GET
// {root}/peers/{peer}/studies/{study}/... Only clinicians and admins reach
// it (ProxyRules). The peer applies its own consent rules for the
// asking institution and signs its answer:
//
//   - JSON answers (metadata, searches) are read whole, within
//     MaxMetadataBytes, verified, and only then sent on, with the peer's
//     URLs rewritten to go through this proxy;
//   - other answers (instances, frames, rendered images) stream through
//     with io.Copy, hashed on the way; if the signature does not match at
//     the end, the connection is cut before the response completes, so
//     the client never receives a whole altered answer.
func (a *API) proxy(c echo.Context) error {
	r := c.Request()
	if p, ok := auth.FromContext(r.Context()); ok && p.Scope != "" {
		return fmt.Errorf("%w: a share link cannot reach other gateways", auth.ErrForbidden)
	}
	peer, err := a.Fed.Peer(c.Param("peer"))
	if err != nil {
		return err
	}
	prefix := a.root() + "/peers/" + peer.Name
	rel, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return fmt.Errorf("%w: unexpected path", federation.ErrBadPath)
	}
	p, _ := auth.FromContext(r.Context())
	who := asking(p, recognition.AskingFrom(r.Context()))
	accept := r.Header.Get("Accept")
	if len(accept) > 1024 {
		return fmt.Errorf("%w: Accept header too long", federation.ErrBadPath)
	}
	query := c.QueryParams()
	query.Del(Param)
	rm, err := a.Fed.Retrieve(r.Context(), peer, rel, query, accept, who)
	if err != nil {
		return err
	}
	defer rm.Close()
	h := c.Response().Header()
	h.Set(HeaderHolding, peer.Name)
	h.Set("Cache-Control", "private, no-cache")
	if federation.IsJSON(rm.MediaType) {
		return a.relayJSON(c, rm, peer)
	}
	h.Set("Content-Type", rm.ContentType)
	c.Response().WriteHeader(http.StatusOK)
	_, cerr := io.Copy(c.Response(), rm.Body)
	if cerr == nil {
		cerr = rm.Verify()
	}
	if cerr != nil {
		var pe *federation.PeerError
		if !errors.As(cerr, &pe) {
			// The client went away: nothing to cut.
			rm.Failed(&federation.PeerError{Peer: peer.Name, Kind: federation.KindCanceled})
			return nil
		}
		a.log().Warn("relay from peer cut", "peer", peer.Name, "study", c.Param("study"), "err", cerr)
		abort(c)
	}
	return nil
}

// relayJSON verifies a whole JSON answer before sending it on.
func (a *API) relayJSON(c echo.Context, rm *federation.Remote, peer federation.Peer) error {
	b, err := io.ReadAll(rm.Body)
	if err == nil {
		err = rm.Verify()
	}
	if err != nil {
		return err
	}
	if a.base != nil {
		// The peer's URLs (RetrieveURL, BulkDataURI) point at itself;
		// the client reaches it only through this proxy.
		b = bytes.ReplaceAll(b, []byte(peer.URL+"/"), []byte(a.base(c)+"/peers/"+peer.Name+"/"))
	}
	return c.Blob(http.StatusOK, rm.ContentType, b)
}

// abort cuts the client's connection mid-answer, so that a relayed answer
// whose provenance failed is never received complete.
func abort(c echo.Context) {
	conn, _, err := http.NewResponseController(c.Response()).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: net/http resets the stream
	}
	_ = conn.Close()
}
