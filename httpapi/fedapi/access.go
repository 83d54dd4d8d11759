package fedapi

import (
	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

// AccessRules are who may call the routes Register mounts (relative to
// /api/v1): peers and admins read this gateway's identity, admins the
// list of peers.
var AccessRules = access.Rules{
	"GET /federation/identity":    {Roles: []auth.Role{auth.RolePeer, auth.RoleAdmin}},
	"GET /admin/federation/peers": {Roles: access.Admins},
}

// ProxyRules are who may call the routes Mount adds (relative to the
// DICOMweb root): retrieval from a peer through this gateway is never
// asked by a peer (no relaying on), a patient or a share link.
var ProxyRules = access.Rules{
	"GET /peers/:peer/studies/:study":   {Roles: access.Staff},
	"GET /peers/:peer/studies/:study/*": {Roles: access.Staff},
}
