package index

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
)

// TestRowJSONSameAsEncodingJSON: the hand-written row encoders write the
// bytes encoding/json writes, for rows built from the real files (frame
// tables, bulk references, deflated and encapsulated data) and for edge
// cases (no attributes, no modalities, zero and zoned times).
func TestRowJSONSameAsEncodingJSON(t *testing.T) {
	dir, err := corpus.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, v interface{ appendJSON([]byte) ([]byte, error) }) {
		t.Helper()
		got, err := v.appendJSON(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	for _, f := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		h, err := dcm.ReadHeader(bytes.NewReader(b), int64(len(b)), dcm.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		same(f+" instance", &Instance{Study: h.StudyUID, Series: h.SeriesUID, SOP: h.SOPUID, Attrs: h.Dataset,
			Key: "studies/" + h.StudyUID + "/x.dcm", Size: int64(len(b)), SHA256: "ab<&>", TransferSyntax: h.TransferSyntax,
			Frames: h.Frames, Bulk: h.Bulk, Seq: 1 << 40})
		same(f+" instance with CRC-32C", &Instance{Study: h.StudyUID, Series: h.SeriesUID, SOP: h.SOPUID, Attrs: h.Dataset,
			Key: "studies/" + h.StudyUID + "/x.dcm", Size: int64(len(b)), CRC32C: "0a1b2c3d", TransferSyntax: h.TransferSyntax,
			Frames: h.Frames, Bulk: h.Bulk, Seq: 2})
		same(f+" instance compressed at ingest", &Instance{Study: h.StudyUID, Series: h.SeriesUID, SOP: h.SOPUID, Attrs: h.Dataset,
			Key: "studies/" + h.StudyUID + "/x.dcm", Size: int64(len(b)), CRC32C: "0a1b2c3d", TransferSyntax: h.TransferSyntax,
			Frames: h.Frames, Bulk: h.Bulk, Seq: 3, Received: &Received{Size: 1 << 33, CRC32C: "<&>", TransferSyntax: "1.2.840.10008.1.2", DataSetSHA256: "ff00"}})
		same(f+" received without CRC-32C (reindexed)", &Instance{Study: h.StudyUID, Received: &Received{Size: 9, TransferSyntax: "1.2", DataSetSHA256: "ab"}})
		same(f+" series", &Series{Study: h.StudyUID, UID: h.SeriesUID, Attrs: h.Dataset, Instances: 3, Version: 7})
		same(f+" study", &Study{UID: h.StudyUID, Attrs: h.Dataset, Modalities: []string{"CT", "PT"}, Series: 2, Instances: 9,
			Version: 12, Received: time.Date(2026, 11, 26, 3, 4, 5, 123456789, time.UTC)})
	}
	same("empty instance", &Instance{})
	same("frames with a nil frame", &Instance{Frames: dcm.FrameTable{Encapsulated: true, Deflated: true, DeflateStart: 300,
		Frames: [][]dcm.Range{{{Offset: 1, Length: 2}}, nil, {}}}})
	same("empty series", &Series{})
	same("empty study", &Study{Modalities: []string{}})
	same("zoned study", &Study{Received: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))})
}
