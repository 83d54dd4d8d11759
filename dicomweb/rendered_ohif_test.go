package dicomweb_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestOHIFImageRequests replays what the OHIF viewer (v3, data source
// configuration in docs/ohif.md) sends, spelled as OHIF spells it (see
// NOTES.md): the study list with includefield and fuzzy matching, series,
// series metadata, single frames with transfer-syntax=*, and the
// thumbnails and rendered images its wadors thumbnail mode does not need
// but its "thumbnail" mode asks for.
func TestOHIFImageRequests(t *testing.T) {
	fx := newRenderedFixture(t)
	st := fx.phantom.Studies()[0]
	se := st.Series[0]
	f := se.Files[0]
	name := strings.Split(strings.Split(f.PatientName, "=")[0], "^")[0]

	resp, body := get(t, fx.gw.URL+"/studies?PatientName="+name+"&limit=25&offset=0&fuzzymatching=true&includefield=00081030%2C00080060", "application/dicom+json")
	var studies []map[string]json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal(body, &studies) != nil || len(studies) == 0 {
		t.Fatalf("study list: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, fx.gw.URL+"/studies?PatientName="+name+"&StudyDate=20261201-20260101&fuzzymatching=true", "application/dicom+json")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("reversed date range: %d %s, want 200 []", resp.StatusCode, body)
	}
	resp, body = get(t, fx.gw.URL+"/studies/"+st.StudyUID+"/series", "application/dicom+json")
	if resp.StatusCode != 200 || !strings.Contains(string(body), se.SeriesUID) {
		t.Fatalf("series: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, fx.gw.URL+"/studies/"+st.StudyUID+"/series/"+se.SeriesUID+"/metadata", "application/dicom+json")
	var meta []map[string]json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal(body, &meta) != nil || len(meta) != len(se.Files) {
		t.Fatalf("series metadata: %d, %d instances", resp.StatusCode, len(meta))
	}
	if !strings.Contains(string(meta[0]["7FE00010"]), "BulkDataURI") {
		t.Errorf("pixel data without BulkDataURI: %s", meta[0]["7FE00010"])
	}
	inst := fx.gw.URL + "/studies/" + st.StudyUID + "/series/" + se.SeriesUID + "/instances/" + f.SOPUID
	resp, body = get(t, inst+"/frames/1", "multipart/related; type=application/octet-stream; transfer-syntax=*")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Content-Type: application/octet-stream; transfer-syntax=") {
		t.Errorf("frame: %d, part header not as OHIF reads it", resp.StatusCode)
	}
	for _, u := range []string{inst + "/thumbnail", fx.gw.URL + "/studies/" + st.StudyUID + "/series/" + se.SeriesUID + "/thumbnail", inst + "/rendered"} {
		if resp, _ := get(t, u, "image/jpeg"); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", u, resp.StatusCode)
		}
	}
}
