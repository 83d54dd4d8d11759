package fedapi

import (
	"context"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/federation"
	"github.com/imgcloud/gateway/recognition"
)

// Searcher wraps local (the archive) into the federated QIDO-RS searcher,
// for dicomweb.Options.Searcher: GET {root}/studies with a
// federation scope (the "federation" parameter or the X-Federation-Scope
// header) asks the peers in parallel while the local search runs, and
// the DICOMweb handler encodes the merged answer once (see
// federation.Searcher). Only clinicians and admins may fan out.
func (a *API) Searcher(local archive.Searcher) archive.Searcher {
	return a.Fed.Searcher(local, mayFederate, askingOf)
}

// mayFederate applies the fan-out rule (access.MayFanOut) to a request.
func mayFederate(ctx context.Context) error {
	p, authed := auth.FromContext(ctx)
	return access.MayFanOut(p, authed)
}

// askingOf is who a request asks for, as peers are told.
func askingOf(ctx context.Context) federation.Asking {
	p, _ := auth.FromContext(ctx)
	return asking(p, recognition.AskingFrom(ctx))
}
