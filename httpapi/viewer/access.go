package viewer

import "github.com/imgcloud/gateway/access"

// AccessRules are who may call the routes Register mounts: anyone, since
// the viewer's files hold no patient data (the viewer then authenticates
// its DICOMweb calls), and IHE IID only redirects into it.
var AccessRules = access.Rules{
	"GET /*":                     {Public: true},
	"GET /favicon.ico":           {Public: true},
	"GET /IHEInvokeImageDisplay": {Public: true},
}
