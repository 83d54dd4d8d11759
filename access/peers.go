package access

import (
	"fmt"

	"github.com/imgcloud/gateway/auth"
)

// MayFanOut is the federated-search rule: only clinicians and admins may
// fan a search out to peers; a peer's request never does (no loops).
// Without a principal (authentication off) the search fans out.
func MayFanOut(p auth.Principal, authenticated bool) error {
	if authenticated && p.Role != auth.RoleClinician && p.Role != auth.RoleAdmin {
		return fmt.Errorf("%w: federated search is open to clinicians and admins, not to role %q", auth.ErrForbidden, p.Role)
	}
	return nil
}

// PeerMayAskFor is the peer rule: a peer gateway may ask on behalf of an
// institution unless the registry places that institution in another
// province than the peer's (a peer cannot borrow one of this province's
// hospitals to see its studies). Institutions unknown here, or without a
// province, are admitted: consents name them by id. province returns an
// institution's registered province ("" if unknown).
func PeerMayAskFor(province func(institution string) string, peer, peerProvince, institution string) error {
	if p := province(institution); p != "" && p != peerProvince {
		return fmt.Errorf("institution %s is registered in province %s, not in peer %s's %s", institution, p, peer, peerProvince)
	}
	return nil
}
