package dicomweb

import (
	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/auth"
)

// AccessRules are who may call the routes Register mounts under root
// (its Options.Root, "/dicomweb"): a PACS or an admin stores, an admin
// deletes, every reader but a PACS reads. A share session reads its own
// study: the study routes by their :study, the study search and WADO-URI
// by their study parameter; DICOM files (retrieval without a suffix, bulk
// data) are downloads, metadata, frames and pictures are viewing. WADO-URI
// is a download unless its contentType names image types only. The rules
// include WADO-URI at the site root ("/wado", Options.Site), unprefixed.
// Routes of Options.Mount declare their own rules.
func AccessRules(root string) access.Rules {
	store := []auth.Role{auth.RolePACS, auth.RoleAdmin}
	view := access.Rule{Roles: access.Readers, Share: access.ShareStudy}
	download := access.Rule{Roles: access.Readers, Share: access.ShareStudy, Download: true}
	r := access.Rules{
		"POST /studies":        {Roles: store},
		"POST /studies/:study": {Roles: store},

		// The viewer's study query: exactly its study, nothing that widens it.
		"GET /studies":   {Roles: access.Readers, Share: access.ShareQuery, StudyQuery: []string{"StudyInstanceUID", "0020000D"}},
		"GET /series":    {Roles: access.Readers},
		"GET /instances": {Roles: access.Readers},
		"GET /wado":      wadoURIRule,

		"GET /studies/:study/series":                                       view,
		"GET /studies/:study/instances":                                    view,
		"GET /studies/:study/series/:series/instances":                     view,
		"GET /studies/:study":                                              download,
		"GET /studies/:study/series/:series":                               download,
		"GET /studies/:study/series/:series/instances/:sop":                download,
		"GET /studies/:study/series/:series/instances/:sop/bulkdata/*":     download,
		"GET /studies/:study/series/:series/instances/:sop/frames/:frames": view,
	}
	for _, p := range []string{"/studies/:study", "/studies/:study/series/:series",
		"/studies/:study/series/:series/instances/:sop", "/studies/:study/series/:series/instances/:sop/frames/:frames"} {
		r["GET "+p+"/metadata"] = view
		r["GET "+p+"/rendered"] = view
		r["GET "+p+"/thumbnail"] = view
	}
	// Frames have no metadata route.
	delete(r, "GET /studies/:study/series/:series/instances/:sop/frames/:frames/metadata")
	out := access.Prefix(root, r)
	out["GET /wado"] = wadoURIRule
	return out
}

// wadoURIRule opens WADO-URI to readers and to a share session for its
// study; application/dicom is a download, pictures are viewing.
var wadoURIRule = access.Rule{Roles: access.Readers, Share: access.ShareQuery, StudyQuery: []string{"studyUID"},
	Download: true, PictureQuery: "contentType"}
