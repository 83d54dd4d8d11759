package dcm

import "strings"

// storageRoot is the branch of PS3.4 that holds every composite storage
// SOP class (images, SR, waveforms, RT, presentation states, ...).
const storageRoot = "1.2.840.10008.5.1.4.1.1."

// storageOutsideRoot are the storage SOP classes defined elsewhere.
var storageOutsideRoot = map[string]bool{
	"1.2.840.10008.5.1.4.38.1": true, // Hanging Protocol Storage
	"1.2.840.10008.5.1.4.39.1": true, // Color Palette Storage
	"1.2.840.10008.5.1.4.43.1": true, // Generic Implant Template Storage
	"1.2.840.10008.5.1.4.44.1": true, // Implant Assembly Template Storage
	"1.2.840.10008.5.1.4.45.1": true, // Implant Template Group Storage
}

// IsStorageSOPClass reports whether uid is a storage SOP class of PS3.4
// annex B (every class under 1.2.840.10008.5.1.4.1.1, retired ones
// included, and the few defined outside it), the classes a C-STORE SCP
// accepts.
func IsStorageSOPClass(uid string) bool {
	return (strings.HasPrefix(uid, storageRoot) && len(uid) > len(storageRoot) && ValidUID(uid)) || storageOutsideRoot[uid]
}

// StoredTransferSyntaxes are the transfer syntaxes the gateway stores as
// received: native ones and the usual compressed ones (JPEG, JPEG-LS,
// JPEG 2000, HTJ2K, RLE, MPEG/HEVC).
var StoredTransferSyntaxes = []string{
	ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLE, ExplicitVRBigEndian,
	"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
	"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
	"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93",
	"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
	"1.2.840.10008.1.2.5",
	"1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103",
	"1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106",
	"1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108",
}
