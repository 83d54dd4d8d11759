// Package fedapi is the HTTP side of federation (package federation):
// the federated QIDO-RS searcher for the DICOMweb handler, the retrieve proxy under
// /dicomweb/peers/{peer}/, the provenance trailer on answers to peers,
// and the JSON routes GET /api/v1/federation/identity and GET
// /api/v1/admin/federation/peers.
package fedapi

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/federation"
)

// Query parameter and header that ask for a federated search (the QIDO
// handler reads them, package dicomweb).
const (
	// Param on GET /dicomweb/studies: "all" (or "true") for every peer, or
	// peer names separated by commas.
	Param = dicomweb.FederationParam
	// HeaderScope is the same as a header.
	HeaderScope = dicomweb.HeaderFederationScope
	// HeaderHolding names the peer a relayed answer comes from.
	HeaderHolding = "X-Imgcloud-Holding-Gateway"
)

// API serves federation over HTTP.
type API struct {
	Fed *federation.Service
	// Root is the DICOMweb service root path (default /dicomweb).
	Root   string
	Logger *slog.Logger

	base func(echo.Context) string
}

func (a *API) root() string {
	if a.Root == "" {
		return "/dicomweb"
	}
	return a.Root
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// Register mounts the JSON routes on the /api/v1 group.
func (a *API) Register(g *echo.Group) {
	g.GET("/federation/identity", a.identity)
	g.GET("/admin/federation/peers", a.peers)
}

// Mount adds the retrieve proxy to the DICOMweb group; base returns the
// service root as the client sees it (for rewritten URLs).
func (a *API) Mount(g *echo.Group, base func(echo.Context) string) {
	a.base = base
	g.GET("/peers/:peer/studies/:study", a.proxy)
	g.GET("/peers/:peer/studies/:study/*", a.proxy)
}

// identity publishes this gateway's name, province and public key, for
// the peers' files.
func (a *API) identity(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{
		"name": a.Fed.Name(), "province": a.Fed.Province(),
		"public_key": federation.EncodePublicKey(a.Fed.PublicKey()), "algorithm": "ed25519",
	})
}

// peers lists the peers and their status.
func (a *API) peers(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"self": a.Fed.Name(), "peers": a.Fed.Status()})
}

// asking is who a request asks for, as sent to peers: the asking
// institution (the principal's, or the admin's X-Asking-Institution) and
// the clinician.
func asking(p auth.Principal, institution string) federation.Asking {
	user := p.User
	if user == "" && p.TokenID != "" {
		user = "token:" + p.TokenID
	}
	return federation.Asking{Institution: institution, User: user}
}
