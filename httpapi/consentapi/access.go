package consentapi

import (
	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

// AccessRules are who may call the routes Register mounts (relative to
// /api/v1): patients manage their own consents, admins anyone's.
var AccessRules = access.Rules{
	"GET /patient/consents":        {Roles: patients},
	"POST /patient/consents":       {Roles: patients},
	"DELETE /patient/consents/:id": {Roles: patients},
}

var patients = []auth.Role{auth.RoleAdmin, auth.RolePatient}
