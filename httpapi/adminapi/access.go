package adminapi

import (
	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

// AccessRules are who may call the routes Register mounts (relative to
// /api/v1): every authenticated principal asks who it is; tokens and the
// audit trail are for admins, and so are the known DICOM AEs; a patient
// reads who accessed their studies.
var AccessRules = access.Rules{
	"GET /me":                  {Roles: []auth.Role{auth.RoleAdmin, auth.RoleClinician, auth.RolePeer, auth.RolePatient, auth.RolePACS}},
	"POST /admin/tokens":       {Roles: access.Admins},
	"GET /admin/tokens":        {Roles: access.Admins},
	"DELETE /admin/tokens/:id": {Roles: access.Admins},
	"GET /admin/audit":         {Roles: access.Admins},
	"GET /admin/audit/verify":  {Roles: access.Admins},
	"POST /admin/audit/export": {Roles: access.Admins},
	"GET /admin/audit/report":  {Roles: access.Admins},
	"GET /patient/access-log":  {Roles: []auth.Role{auth.RoleAdmin, auth.RolePatient}},
	// Known DICOM AEs: who may associate with the DICOM port.
	"GET /admin/dicom-aes":         {Roles: access.Admins},
	"PUT /admin/dicom-aes/:aet":    {Roles: access.Admins},
	"DELETE /admin/dicom-aes/:aet": {Roles: access.Admins},
}
