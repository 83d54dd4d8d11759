package dicomweb

import "github.com/imgcloud/gateway/httpapi/respond"

// Request errors of the DICOMweb handlers; httpapi/respond maps them, with
// the archive's errors, to statuses in one place.

func badRequest(msg string) error       { return respond.BadRequest(msg) }
func notAcceptable(msg string) error    { return respond.NotAcceptable(msg) }
func unsupportedMedia(msg string) error { return respond.UnsupportedMedia(msg) }
