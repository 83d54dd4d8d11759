package shareapi

import (
	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

// AccessRules are who may call the routes Register mounts (relative to
// /api/v1): staff and patients create and manage shares (whose shares
// each may see is the handlers' rule, by credential); a share session
// reads its own facts and, when its share allows downloading, its study's
// zip; share keys are for admins.
var AccessRules = access.Rules{
	"POST /shares":                  {Roles: sharers},
	"GET /shares":                   {Roles: sharers},
	"GET /shares/:id":               {Roles: sharers},
	"DELETE /shares/:id":            {Roles: sharers},
	"GET /shares/:id/qr.png":        {Roles: sharers},
	"GET /shares/:id/qr.svg":        {Roles: sharers},
	"GET /shares/session":           {Roles: sharers, Share: access.ShareSession},
	"GET /shares/session/study.zip": {Roles: sharers, Share: access.ShareSession, Download: true},
	"GET /admin/share-keys":         {Roles: access.Admins},
	"POST /admin/share-keys":        {Roles: access.Admins},
	"DELETE /admin/share-keys/:kid": {Roles: access.Admins},
}

// LinkRules are who may call the routes RegisterLinks mounts: anyone,
// since a share link authenticates itself (its token, then its PIN).
var LinkRules = access.Rules{
	"GET /s/:token":       {Public: true},
	"HEAD /s/:token":      {Public: true},
	"POST /s/:token/open": {Public: true},
	"* /s/*":              {Public: true},
}

var sharers = []auth.Role{auth.RoleAdmin, auth.RoleClinician, auth.RolePatient}
