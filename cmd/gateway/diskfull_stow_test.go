package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestDiskFullMidSTOW fills the objects folder while one STOW request of
// many instances is being stored (issue 14, finding 18): the space guard
// trips part-way, and the 503 answer is a Store Instances Response that
// lists in ReferencedSOPSequence exactly the instances stored by that
// request (each retrievable, also after a restart) and says in
// FailedSOPSequence that the rest was not stored.
func TestDiskFullMidSTOW(t *testing.T) {
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 12, SeriesPerStudy: 2, InstancesPerSeries: 5, Seed: 37,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	objects := filepath.Join(data, "objects")
	mountTmpfs(t, objects, "12m")
	// 6 MB free, 4 MB kept free by the guard: about 2 MB can be stored.
	if err := os.WriteFile(filepath.Join(objects, "filler"), make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	guard := []string{"--min-free-bytes", "4194304"}
	p := startGateway(t, data, guard...)
	var paths []string
	var total int64
	for _, f := range man.Files {
		paths = append(paths, man.Abs(f))
		if st, err := os.Stat(man.Abs(f)); err == nil {
			total += st.Size()
		}
	}
	if total < 4<<20 {
		t.Fatalf("the corpus holds %d bytes: too little to fill the folder", total)
	}
	body, ct := gwtest.Multipart(gwtest.FileParts(t, paths...))
	resp, err := http.Post(p.base+"/studies", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("STOW: %v", err)
	}
	var answer map[string]json.RawMessage
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("STOW over a filling disk: %d (Retry-After %q) %.300s, want 503", resp.StatusCode, resp.Header.Get("Retry-After"), raw.String())
	}
	if err := json.Unmarshal(raw.Bytes(), &answer); err != nil {
		t.Fatalf("503 answer is not a Store Instances Response: %v %.300s", err, raw.String())
	}
	var ref, failed struct {
		Value []map[string]struct{ Value []any }
	}
	json.Unmarshal(answer["00081199"], &ref)
	json.Unmarshal(answer["00081198"], &failed)
	if len(ref.Value) == 0 || len(ref.Value) >= len(man.Files) {
		t.Fatalf("the guard tripped after %d of %d instances: want part-way", len(ref.Value), len(man.Files))
	}
	if n := len(failed.Value); n == 0 || !strings.Contains(fmt.Sprint(failed.Value[n-1]["00000902"].Value), "storage unavailable") {
		t.Fatalf("FailedSOPSequence %v does not say why the rest was not stored", failed.Value)
	}
	if strings.Contains(raw.String(), data) {
		t.Errorf("the answer names a server folder: %s", raw.String())
	}
	listed := map[string]bool{}
	for _, it := range ref.Value {
		listed[fmt.Sprint(it["00081155"].Value[0])] = true
	}
	t.Logf("guard tripped after %d of %d instances", len(listed), len(man.Files))
	check := func(when string) {
		for sop := range listed {
			f, _ := man.BySOP(sop)
			want, _ := os.ReadFile(man.Abs(f))
			resp, got := gwtest.Do(t, "GET", p.base+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+sop+"&contentType=application/dicom", nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Fatalf("%s: listed instance %s: %d", when, sop, resp.StatusCode)
			}
		}
		// Nothing stored that the answer did not list.
		resp, b := gwtest.Do(t, "GET", p.base+"/instances?limit=1000", map[string]string{"Accept": "application/dicom+json"}, nil)
		var rows []map[string]struct{ Value []any }
		if resp.StatusCode/100 != 2 || (resp.StatusCode == 200 && json.Unmarshal(b, &rows) != nil) {
			t.Fatalf("%s: QIDO: %d %s", when, resp.StatusCode, b)
		}
		for _, r := range rows {
			if sop := fmt.Sprint(r["00080018"].Value[0]); !listed[sop] {
				t.Errorf("%s: instance %s is stored but the answer did not list it", when, sop)
			}
		}
		if len(rows) != len(listed) {
			t.Errorf("%s: %d instances stored, %d listed", when, len(rows), len(listed))
		}
	}
	check("before restart")
	p.kill()
	p = startGateway(t, data, guard...)
	check("after restart")
}
