package recognitionapi

import "github.com/imgcloud/gateway/access"

// AccessRules are who may call the routes Register mounts (patterns
// relative to its group, /api/v1): the registry, the catalogue, tags,
// order checks, decisions, statistics and person links are for staff;
// editing the registry, import, export and holding moves for admins. What
// each may see of a study is the visibility rule's (access.Visible).
var AccessRules = access.Rules{
	"GET /institutions":                {Roles: access.Staff},
	"GET /institutions/:id":            {Roles: access.Staff},
	"GET /regions":                     {Roles: access.Staff},
	"GET /recognition/catalogue":       {Roles: access.Staff},
	"GET /recognition/catalogue/:code": {Roles: access.Staff},
	"GET /recognition/studies/:study":  {Roles: access.Staff},
	"POST /recognition/order-check":    {Roles: access.Staff},
	"POST /recognition/decisions":      {Roles: access.Staff},
	"GET /recognition/decisions":       {Roles: access.Staff},
	"GET /recognition/statistics":      {Roles: access.Staff},
	"POST /persons/links":              {Roles: access.Staff},
	"POST /persons/links/unlink":       {Roles: access.Staff},

	"PUT /admin/institutions/:id":       {Roles: access.Admins},
	"DELETE /admin/institutions/:id":    {Roles: access.Admins},
	"PUT /admin/regions/:id":            {Roles: access.Admins},
	"DELETE /admin/regions/:id":         {Roles: access.Admins},
	"PUT /admin/catalogue/:code":        {Roles: access.Admins},
	"DELETE /admin/catalogue/:code":     {Roles: access.Admins},
	"POST /admin/recognition/import":    {Roles: access.Admins},
	"GET /admin/recognition/export":     {Roles: access.Admins},
	"PUT /admin/studies/:study/holding": {Roles: access.Admins},
}
