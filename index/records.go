package index

import (
	"time"

	"github.com/imgcloud/gateway/dcm"
)

// Instance is the index row of one stored instance: what QIDO returns at the
// instance level and what WADO needs to find the bytes without parsing.
type Instance struct {
	Study  string `json:"study"`
	Series string `json:"series"`
	SOP    string `json:"sop"`
	// Attrs are the instance-level attributes QIDO matches and returns.
	Attrs dcm.Dataset `json:"attrs"`
	// Key is the object key in storage; Size its length; CRC32C (hex) the
	// Castagnoli checksum of its bytes, which fsck --deep checks for bit rot.
	// Rows written before CRC32C carry a SHA-256 instead; rows rebuilt from
	// storage carry neither.
	Key            string         `json:"key"`
	Size           int64          `json:"size"`
	SHA256         string         `json:"sha256,omitempty"`
	CRC32C         string         `json:"crc32c,omitempty"`
	TransferSyntax string         `json:"ts"`
	Frames         dcm.FrameTable `json:"frames"`
	Bulk           []dcm.BulkRef  `json:"bulk,omitempty"`
	// Received describes the file as it was received when the stored
	// object is not it (compressed at ingest); nil when it is.
	Received *Received `json:"received,omitempty"`
	// Seq orders instances by arrival; it makes ETags change on every write.
	Seq uint64 `json:"seq"`
}

// Received is what the archive keeps of an instance it received in one
// transfer syntax and stored in another (compressed at ingest): the size
// and CRC-32C of the file as received, its transfer syntax, and the
// SHA-256 of its data set (the bytes after the file meta), so that a
// re-send of the same instance is a duplicate, not a conflict, though the
// stored object differs.
type Received struct {
	Size           int64  `json:"size"`
	CRC32C         string `json:"crc32c,omitempty"`
	TransferSyntax string `json:"ts"`
	DataSetSHA256  string `json:"ds_sha256"`
}

// Series is the index row of one series with its computed counts.
type Series struct {
	Study     string      `json:"study"`
	UID       string      `json:"uid"`
	Attrs     dcm.Dataset `json:"attrs"`
	Instances int         `json:"instances"`
	// Version changes whenever an instance of the series is added or removed.
	Version uint64 `json:"version"`
}

// Study is the index row of one study with its computed attributes.
type Study struct {
	UID        string      `json:"uid"`
	Attrs      dcm.Dataset `json:"attrs"`
	Modalities []string    `json:"modalities"`
	Series     int         `json:"series"`
	Instances  int         `json:"instances"`
	Version    uint64      `json:"version"`
	// Received is when the gateway first received an instance of the
	// study: validity windows count from it as well as from StudyDate.
	Received time.Time `json:"received"`
	// Holding is the id of the institution holding the study as the
	// recognition service recorded it (SetHolding); "" until then, or
	// after a reindex. It only places the study under a KindHolding key.
	Holding string `json:"holding,omitempty"`
}
