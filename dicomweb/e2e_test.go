package dicomweb_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/codectest"
	"github.com/imgcloud/gateway/internal/testutil/corpustest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/internal/testutil/miniotest"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
	"github.com/imgcloud/gateway/storage/s3"
)

// testCorpus generates, once per test binary, studies derived from the real
// files of github.com/suyashkumar/dicom: 6 studies x 2 series x 3
// instances, two of them big (the 7.5 MB CR and the 2-frame CT).
func testCorpus(t *testing.T) *corpus.Manifest {
	t.Helper()
	return corpustest.Shared(t, corpus.Options{
		Studies: 6, SeriesPerStudy: 2, InstancesPerSeries: 3, Big: 2, Seed: 7,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	corpustest.Cleanup()
	codectest.Cleanup()
	os.Exit(code)
}

// stores returns the object stores the suite runs against: the folder
// store always, and a real MinIO when its binary is available (CI always).
func stores(t *testing.T) map[string]func(t *testing.T) storage.Store {
	return map[string]func(t *testing.T) storage.Store{
		"file": func(t *testing.T) storage.Store {
			s, err := file.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"minio": func(t *testing.T) storage.Store {
			srv := miniotest.Start(t)
			s, err := s3.Open(t.Context(), s3.Config{Endpoint: srv.Endpoint, Bucket: "dicom", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func TestDICOMweb(t *testing.T) {
	man := testCorpus(t)
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			gw := gwtest.Start(t, newStore(t), gwtest.Options{})
			studies := man.Studies()
			// Load every study, one STOW request each.
			for _, st := range studies {
				var paths []string
				for _, se := range st.Series {
					for _, f := range se.Files {
						paths = append(paths, filepath.Join(man.Dir, f.Path))
					}
				}
				resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, paths...))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("STOW study %s: %d %s", st.StudyUID, resp.StatusCode, body)
				}
				refs := seqUIDs(t, body, "00081199", "00081155")
				if len(refs) != len(paths) {
					t.Fatalf("STOW referenced %d instances, sent %d", len(refs), len(paths))
				}
			}
			t.Run("stow", func(t *testing.T) { testStow(t, gw, man) })
			t.Run("qido", func(t *testing.T) { testQIDO(t, gw, man) })
			t.Run("wado", func(t *testing.T) { testWADO(t, gw, man) })
			t.Run("metadata", func(t *testing.T) { testMetadata(t, gw, man) })
			t.Run("frames", func(t *testing.T) { testFrames(t, gw, man) })
			t.Run("bad-input", func(t *testing.T) { testBadInput(t, gw, man) })
		})
	}
}

// seqUIDs returns the values of tag inside the items of sequence seq.
func seqUIDs(t *testing.T, body []byte, seq, tag string) []string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var sq struct {
		Value []map[string]struct {
			Value []any
		}
	}
	if raw, ok := top[seq]; ok {
		if err := json.Unmarshal(raw, &sq); err != nil {
			t.Fatalf("decode %s: %v", seq, err)
		}
	}
	var out []string
	for _, item := range sq.Value {
		if v := item[tag].Value; len(v) > 0 {
			out = append(out, fmt.Sprint(v[0]))
		}
	}
	return out
}

func get(t *testing.T, u, accept string) (*http.Response, []byte) {
	t.Helper()
	return gwtest.Do(t, http.MethodGet, u, map[string]string{"Accept": accept}, nil)
}

func qido(t *testing.T, gw *gwtest.Gateway, path string, params url.Values) []dcm.Dataset {
	t.Helper()
	resp, body := get(t, gw.URL+path+"?"+params.Encode(), "application/dicom+json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("QIDO %s?%s: %d %s", path, params.Encode(), resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/dicom+json" {
		t.Fatalf("QIDO Content-Type %q", ct)
	}
	var out []dcm.Dataset
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode QIDO answer: %v: %s", err, body)
	}
	return out
}

func uidSet(items []dcm.Dataset, tag string) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.String(tag))
	}
	sort.Strings(out)
	return out
}

func sortedUnique(ss []string) []string {
	sort.Strings(ss)
	var out []string
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func testStow(t *testing.T, gw *gwtest.Gateway, man *corpus.Manifest) {
	f := man.Files[0]
	path := filepath.Join(man.Dir, f.Path)
	// The same instance again: idempotent, 200.
	resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, path))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("re-store: %d %s", resp.StatusCode, body)
	}
	// Same SOP Instance UID, different content: a conflict, never an overwrite.
	orig, _ := os.ReadFile(path)
	changed := bytes.Clone(orig)
	changed[len(changed)-1] ^= 0xFF
	resp, body = gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: changed}})
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("conflicting re-store: want 409, got %d %s", resp.StatusCode, body)
	}
	if r := seqUIDs(t, body, "00081198", "00081197"); len(r) != 1 || r[0] != fmt.Sprint(0x0111) {
		t.Fatalf("conflict FailureReason %v, want 273", r)
	}
	assertInstanceBytes(t, gw, f, orig)

	// Partial success: one good new instance, one bad part -> 202.
	good := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.99.1.3", gwtest.Minimal("1.2.826.0.1.99.1", "1.2.826.0.1.99.1.2", "1.2.826.0.1.99.1.3"))
	resp, body = gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: good}, {Body: []byte("not dicom at all")}})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("partial: want 202, got %d %s", resp.StatusCode, body)
	}
	// A study named in the URL that the instance does not belong to: 409, C409.
	resp, body = gwtest.Stow(t, gw.URL+"/studies/1.2.3.4", gwtest.FileParts(t, filepath.Join(man.Dir, man.Files[1].Path)))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("study mismatch: want 409, got %d %s", resp.StatusCode, body)
	}
	if r := seqUIDs(t, body, "00081198", "00081197"); len(r) != 1 || r[0] != fmt.Sprint(0xC409) {
		t.Fatalf("mismatch FailureReason %v, want %d", r, 0xC409)
	}
	// A non-zero preamble is zeroed before storing.
	pre := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.99.2.3", gwtest.Minimal("1.2.826.0.1.99.2", "1.2.826.0.1.99.2.2", "1.2.826.0.1.99.2.3"))
	want := bytes.Clone(pre)
	copy(pre, "MZ\x90\x00 this preamble pretends to be an executable")
	resp, body = gwtest.Stow(t, gw.URL+"/studies/1.2.826.0.1.99.2", []gwtest.Part{{Body: pre}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preamble: %d %s", resp.StatusCode, body)
	}
	_, got := get(t, gw.URL+"/wado?requestType=WADO&studyUID=1.2.826.0.1.99.2&seriesUID=1.2.826.0.1.99.2.2&objectUID=1.2.826.0.1.99.2.3&contentType=application/dicom", "*/*")
	if !bytes.Equal(got, want) {
		t.Fatalf("preamble not zeroed: first bytes %q", got[:16])
	}
}

// assertInstanceBytes retrieves one instance and compares it with want.
func assertInstanceBytes(t *testing.T, gw *gwtest.Gateway, f corpus.File, want []byte) {
	t.Helper()
	parts := retrieveParts(t, gw.URL+"/studies/"+f.StudyUID+"/series/"+f.SeriesUID+"/instances/"+f.SOPUID, `multipart/related; type="application/dicom"; transfer-syntax=*`)
	if len(parts) != 1 || !bytes.Equal(parts[0].body, want) {
		t.Fatalf("instance %s: %d parts, bytes differ from the source", f.SOPUID, len(parts))
	}
}

type part struct {
	contentType string
	body        []byte
}

func retrieveParts(t *testing.T, u, accept string) []part {
	t.Helper()
	resp, body := get(t, u, accept)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("GET %s: Content-Type %q", u, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GET %s: multipart: %v", u, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, part{p.Header.Get("Content-Type"), b})
	}
	return out
}

func testQIDO(t *testing.T, gw *gwtest.Gateway, man *corpus.Manifest) {
	studies := man.Studies()
	want := func(pred func(corpus.Study) bool) []string {
		var out []string
		for _, s := range studies {
			if pred(s) {
				out = append(out, s.StudyUID)
			}
		}
		sort.Strings(out)
		return out
	}
	check := func(name string, params url.Values, wantUIDs []string) []dcm.Dataset {
		t.Helper()
		items := qido(t, gw, "/studies", params)
		got := uidSet(items, "0020000D")
		if strings.Join(got, ",") != strings.Join(wantUIDs, ",") {
			t.Errorf("%s: got %v, want %v", name, got, wantUIDs)
		}
		return items
	}
	st := studies[0]
	items := check("PatientID", url.Values{"PatientID": {st.PatientID}}, want(func(s corpus.Study) bool { return s.PatientID == st.PatientID }))
	// Default return attributes and computed ones.
	for _, it := range items {
		for _, tag := range []string{"00080020", "00080061", "00100010", "00100020", "0020000D", "00201206", "00201208", "00081190"} {
			if _, ok := it[tag]; !ok {
				t.Errorf("study answer lacks %s", tag)
			}
		}
		if n, _ := it.Int("00201208"); n != 6 {
			t.Errorf("NumberOfStudyRelatedInstances = %d, want 6", n)
		}
		if n, _ := it.Int("00201206"); n != 2 {
			t.Errorf("NumberOfStudyRelatedSeries = %d, want 2", n)
		}
	}
	check("StudyInstanceUID list", url.Values{"StudyInstanceUID": {studies[0].StudyUID + "," + studies[1].StudyUID}},
		sortedUnique([]string{studies[0].StudyUID, studies[1].StudyUID}))
	check("date range", url.Values{"StudyDate": {st.StudyDate + "-" + st.StudyDate}}, want(func(s corpus.Study) bool { return s.StudyDate == st.StudyDate }))
	check("open date range", url.Values{"StudyDate": {"-" + st.StudyDate}}, want(func(s corpus.Study) bool { return s.StudyDate <= st.StudyDate }))
	check("reversed range is empty", url.Values{"StudyDate": {"20261231-20260101"}}, nil)

	// Names: Han characters with a wildcard, Latin case-insensitive, fuzzy prefix.
	var han, latin string
	for _, s := range studies {
		// A Han-only name ("张伟"), so the whole-value wildcard finds it.
		if r, _ := utf8.DecodeRuneInString(s.PatientName); r >= 0x4E00 && r <= 0x9FFF && han == "" {
			han = string(r)
		}
		if latin == "" && s.PatientName[0] >= 'A' && s.PatientName[0] <= 'Z' {
			latin = strings.SplitN(s.PatientName, "^", 2)[0]
		}
	}
	if han == "" || latin == "" {
		t.Fatalf("corpus lacks Han or Latin names")
	}
	hasName := func(s corpus.Study, sub string, fold bool) bool {
		n := s.PatientName
		if fold {
			return strings.HasPrefix(strings.ToLower(n), strings.ToLower(sub))
		}
		for _, g := range strings.Split(n, "=") {
			if strings.HasPrefix(g, sub) {
				return true
			}
		}
		return false
	}
	// Without fuzzymatching a wildcard matches the whole value; with it,
	// any component group ("张*" then also finds "Zhang^Wei=张^伟").
	check("Han wildcard", url.Values{"PatientName": {han + "*"}}, want(func(s corpus.Study) bool { return strings.HasPrefix(s.PatientName, han) }))
	check("Han wildcard, fuzzy", url.Values{"PatientName": {han + "*"}, "fuzzymatching": {"true"}}, want(func(s corpus.Study) bool { return hasName(s, han, false) }))
	check("Latin lower-case wildcard", url.Values{"PatientName": {strings.ToLower(latin) + "*"}}, want(func(s corpus.Study) bool { return hasName(s, latin, true) }))
	check("fuzzy", url.Values{"PatientName": {strings.ToLower(latin)}, "fuzzymatching": {"true"}}, want(func(s corpus.Study) bool { return hasName(s, latin, true) }))

	// Modality, includefield, limit/offset.
	f0 := man.Files[0]
	check("ModalitiesInStudy", url.Values{"ModalitiesInStudy": {f0.Modality}}, want(func(s corpus.Study) bool {
		for _, se := range s.Series {
			if se.Modality == f0.Modality {
				return true
			}
		}
		return false
	}))
	items = qido(t, gw, "/studies", url.Values{"PatientID": {st.PatientID}, "includefield": {"StudyDescription,00080080"}})
	if _, ok := items[0]["00081030"]; !ok {
		t.Errorf("includefield StudyDescription missing")
	}
	all := qido(t, gw, "/studies", url.Values{})
	if len(all) < len(studies) {
		t.Fatalf("all studies: %d < %d", len(all), len(studies))
	}
	page := qido(t, gw, "/studies", url.Values{"limit": {"2"}, "offset": {"1"}})
	if len(page) != 2 || page[0].String("0020000D") != all[1].String("0020000D") {
		t.Errorf("limit/offset page wrong")
	}

	// Series and instance levels.
	ser := qido(t, gw, "/studies/"+st.StudyUID+"/series", url.Values{})
	if len(ser) != len(st.Series) {
		t.Errorf("series of study: %d, want %d", len(ser), len(st.Series))
	}
	for _, s := range ser {
		if n, _ := s.Int("00201209"); n != len(st.Series[0].Files) {
			t.Errorf("NumberOfSeriesRelatedInstances = %d", n)
		}
	}
	se := st.Series[0]
	ins := qido(t, gw, "/studies/"+st.StudyUID+"/series/"+se.SeriesUID+"/instances", url.Values{})
	var wantSOP []string
	for _, f := range se.Files {
		wantSOP = append(wantSOP, f.SOPUID)
	}
	sort.Strings(wantSOP)
	if got := uidSet(ins, "00080018"); strings.Join(got, ",") != strings.Join(wantSOP, ",") {
		t.Errorf("instances of series: %v, want %v", got, wantSOP)
	}
	if got := qido(t, gw, "/series", url.Values{"SeriesInstanceUID": {se.SeriesUID}}); len(got) != 1 {
		t.Errorf("/series by UID: %d answers", len(got))
	}
	if got := qido(t, gw, "/instances", url.Values{"SOPInstanceUID": {se.Files[0].SOPUID}}); len(got) != 1 {
		t.Errorf("/instances by UID: %d answers", len(got))
	}
	if got := qido(t, gw, "/studies/"+st.StudyUID+"/instances", url.Values{}); len(got) != 6 {
		t.Errorf("/studies/{s}/instances: %d answers, want 6", len(got))
	}

	// Errors: unknown attribute, malformed date, wrong Accept.
	for _, c := range []struct {
		q    string
		want int
	}{
		{"NoSuchAttribute=1", 400},
		{"StudyDate=2026-13-01", 400},
		{"StudyDate=202601", 400},
		{"limit=-1", 400},
		{"StudyInstanceUID=1.2.abc", 400},
	} {
		resp, body := get(t, gw.URL+"/studies?"+c.q, "application/dicom+json")
		if resp.StatusCode != c.want || !strings.Contains(string(body), "error") {
			t.Errorf("%s: %d %s, want %d", c.q, resp.StatusCode, body, c.want)
		}
	}
	if resp, _ := get(t, gw.URL+"/studies", "application/dicom+xml"); resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("QIDO with XML Accept: %d, want 406", resp.StatusCode)
	}
}

func testWADO(t *testing.T, gw *gwtest.Gateway, man *corpus.Manifest) {
	st := man.Studies()[len(man.Studies())-1]
	var want [][]byte
	bySOP := map[string][]byte{}
	for _, se := range st.Series {
		for _, f := range se.Files {
			b, err := os.ReadFile(filepath.Join(man.Dir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, b)
			bySOP[f.SOPUID] = b
		}
	}
	for _, accept := range []string{`multipart/related; type="application/dicom"; transfer-syntax=*`, `multipart/related; type="application/dicom"`, "*/*", ""} {
		parts := retrieveParts(t, gw.URL+"/studies/"+st.StudyUID, accept)
		if len(parts) != len(want) {
			t.Fatalf("study retrieve (%q): %d parts, want %d", accept, len(parts), len(want))
		}
		matched := 0
		for _, p := range parts {
			for _, w := range want {
				if bytes.Equal(p.body, w) {
					matched++
					break
				}
			}
			if !strings.HasPrefix(p.contentType, "application/dicom") {
				t.Errorf("part Content-Type %q", p.contentType)
			}
		}
		if matched != len(want) {
			t.Fatalf("study retrieve: %d of %d parts equal their source file byte for byte", matched, len(want))
		}
	}
	se := st.Series[0]
	if parts := retrieveParts(t, gw.URL+"/studies/"+st.StudyUID+"/series/"+se.SeriesUID, "*/*"); len(parts) != len(se.Files) {
		t.Errorf("series retrieve: %d parts", len(parts))
	}
	f := se.Files[0]
	// WADO-URI.
	resp, body := get(t, gw.URL+"/wado?requestType=WADO&studyUID="+f.StudyUID+"&seriesUID="+f.SeriesUID+"&objectUID="+f.SOPUID+"&contentType=application/dicom", "*/*")
	if resp.StatusCode != 200 || !bytes.Equal(body, bySOP[f.SOPUID]) {
		t.Errorf("WADO-URI: %d, bytes equal %v", resp.StatusCode, bytes.Equal(body, bySOP[f.SOPUID]))
	}
	// Unsatisfiable Accept, missing things, bad UIDs.
	for _, c := range []struct {
		path, accept string
		want         int
	}{
		{"/studies/" + st.StudyUID, "application/dicom+xml", 406},
		{"/studies/" + st.StudyUID, `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`, 406},
		{"/studies/1.2.3.999", "*/*", 404},
		{"/studies/" + st.StudyUID + "/series/1.2.3", "*/*", 404},
		{"/studies/1.2.x", "*/*", 400},
		{"/studies/" + st.StudyUID + "/series/..%2F..%2Fetc", "*/*", 400},
		{"/wado?requestType=WADO&studyUID=1&seriesUID=2&objectUID=3.4.5", "*/*", 404},
		{"/wado?requestType=WADO&studyUID=1&seriesUID=2", "*/*", 400},
	} {
		resp, body := get(t, gw.URL+c.path, c.accept)
		if resp.StatusCode != c.want {
			t.Errorf("GET %s (%s): %d %s, want %d", c.path, c.accept, resp.StatusCode, body, c.want)
		}
	}
}

func testMetadata(t *testing.T, gw *gwtest.Gateway, man *corpus.Manifest) {
	st := man.Studies()[0]
	se := st.Series[0]
	u := gw.URL + "/studies/" + st.StudyUID + "/series/" + se.SeriesUID + "/metadata"
	resp, body := get(t, u, "application/dicom+json")
	if resp.StatusCode != 200 {
		t.Fatalf("series metadata: %d %s", resp.StatusCode, body)
	}
	var items []dcm.Dataset
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if len(items) != len(se.Files) {
		t.Fatalf("series metadata: %d items, want %d", len(items), len(se.Files))
	}
	for _, it := range items {
		if it.String("0020000E") != se.SeriesUID || it.String("00100020") != st.PatientID {
			t.Errorf("metadata item has wrong identity")
		}
		pd := it["7FE00010"]
		if pd == nil || !strings.HasPrefix(pd.BulkDataURI, gw.URL+"/studies/"+st.StudyUID+"/series/") {
			t.Fatalf("PixelData BulkDataURI %+v not absolute under %s", pd, gw.URL)
		}
		// The bulk data URI answers the pixel data.
		r, b := get(t, pd.BulkDataURI, "application/octet-stream")
		if r.StatusCode != 200 || len(b) == 0 {
			t.Errorf("bulkdata: %d, %d bytes", r.StatusCode, len(b))
		}
	}
	// Behind a proxy the URIs follow the forwarded root when trusted... and
	// ETag / If-None-Match gives 304.
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on metadata")
	}
	r, _ := gwtest.Do(t, "GET", u, map[string]string{"Accept": "application/dicom+json", "If-None-Match": etag}, nil)
	if r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", r.StatusCode)
	}
	for _, p := range []string{"/studies/" + st.StudyUID + "/metadata", "/studies/" + st.StudyUID + "/series/" + se.SeriesUID + "/instances/" + se.Files[0].SOPUID + "/metadata"} {
		resp, body := get(t, gw.URL+p, "application/json")
		var items []dcm.Dataset
		if resp.StatusCode != 200 || json.Unmarshal(body, &items) != nil || len(items) == 0 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if r, _ := get(t, u, "application/dicom+xml"); r.StatusCode != 406 {
		t.Errorf("metadata XML: %d, want 406", r.StatusCode)
	}
}

func testFrames(t *testing.T, gw *gwtest.Gateway, man *corpus.Manifest) {
	var multi *corpus.File
	for i, f := range man.Files {
		if f.NumberOfFrames > 1 {
			multi = &man.Files[i]
			break
		}
	}
	if multi == nil {
		t.Fatal("corpus has no multi-frame instance")
	}
	src, err := os.ReadFile(filepath.Join(man.Dir, multi.Path))
	if err != nil {
		t.Fatal(err)
	}
	h, err := dcm.ReadHeader(bytes.NewReader(src), int64(len(src)), dcm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	frameSize := multi.Rows * multi.Columns * multi.SamplesPerPixel * multi.BitsAllocated / 8
	base := gw.URL + "/studies/" + multi.StudyUID + "/series/" + multi.SeriesUID + "/instances/" + multi.SOPUID + "/frames/"
	for _, accept := range []string{
		`multipart/related; type="application/octet-stream"; transfer-syntax=*`,
		`multipart/related; type="application/octet-stream"`,
		`multipart/related; type="application/octet-stream; transfer-syntax=*"`,
	} {
		parts := retrieveParts(t, base+"2,1", accept)
		if len(parts) != 2 {
			t.Fatalf("frames 2,1: %d parts", len(parts))
		}
		for i, n := range []int{2, 1} {
			r := h.Frames.Frames[n-1][0]
			if len(parts[i].body) != frameSize || !bytes.Equal(parts[i].body, src[r.Offset:r.Offset+r.Length]) {
				t.Fatalf("frame %d: %d bytes, want %d equal to the source", n, len(parts[i].body), frameSize)
			}
			if !strings.Contains(parts[i].contentType, "transfer-syntax=1.2.840.10008.1.2.1") {
				t.Errorf("frame part Content-Type %q", parts[i].contentType)
			}
		}
	}
	resp, body := get(t, base+"1", "application/octet-stream")
	if resp.StatusCode != 200 || len(body) != frameSize {
		t.Errorf("single-part frame: %d, %d bytes", resp.StatusCode, len(body))
	}
	for _, c := range []struct {
		frames, accept string
		want           int
	}{
		{"3", "*/*", 400}, // beyond the frames: 400 (PS3.18 8.2.7)
		{"0", "*/*", 400},
		{"1,x", "*/*", 400},
		{"1", "image/jpeg", 406},
	} {
		resp, body := get(t, base+c.frames, c.accept)
		if resp.StatusCode != c.want {
			t.Errorf("frames/%s (%s): %d %s, want %d", c.frames, c.accept, resp.StatusCode, body, c.want)
		}
	}
}

func testBadInput(t *testing.T, gw *gwtest.Gateway, man *corpus.Manifest) {
	studyCount := len(qido(t, gw, "/studies", url.Values{}))
	const cls = "1.2.840.10008.5.1.4.1.1.7"
	ok := gwtest.Minimal("1.2.826.0.1.77.1", "1.2.826.0.1.77.1.2", "1.2.826.0.1.77.1.3")
	real, _ := os.ReadFile(filepath.Join(man.Dir, man.Files[0].Path))

	huge := append(bytes.Clone(ok), 0x09, 0x00, 0x10, 0x00, 'O', 'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF)
	huge = append(huge, make([]byte, 1024)...)

	var deep bytes.Buffer
	deep.Write(ok)
	for i := 0; i < 5000; i++ {
		deep.Write([]byte{0x40, 0x00, 0x75, 0x02, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}) // (0040,0275) SQ undefined length
		deep.Write([]byte{0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF})                 // item, undefined length
	}

	var overflow bytes.Buffer
	overflow.Write(ok)
	overflow.Write(gwtest.Elem(0x0028, 0x0002, "US", []byte{1, 0}))
	overflow.Write(gwtest.Elem(0x0028, 0x0008, "IS", gwtest.Str("99999", ' ')))
	overflow.Write(gwtest.Elem(0x0028, 0x0010, "US", []byte{0xFF, 0xFF}))
	overflow.Write(gwtest.Elem(0x0028, 0x0011, "US", []byte{0xFF, 0xFF}))
	overflow.Write(gwtest.Elem(0x0028, 0x0100, "US", []byte{16, 0}))
	overflow.Write(gwtest.Elem(0x7FE0, 0x0010, "OW", make([]byte, 64)))

	noSOP := bytes.Replace(ok, gwtest.Elem(0x0008, 0x0018, "UI", gwtest.Str("1.2.826.0.1.77.1.3", 0)), nil, 1)
	letters := gwtest.Minimal("1.2.826.0.1.77.1", "1.2.826.0.1.77.1.2", "1.2.826.0.1.77.ab")
	dots := gwtest.Minimal("1.2.826.0.1.77.1", "1.2.826.0.1.77.1.2", "../../../etc/pass")

	for _, c := range []struct {
		name string
		body []byte
	}{
		{"4 GB element in a 1 KB file", gwtest.Part10(cls, "1.2.826.0.1.77.1.3", huge)},
		{"sequences nested 5000 deep", gwtest.Part10(cls, "1.2.826.0.1.77.1.3", deep.Bytes())},
		{"rows x columns x frames overflow", gwtest.Part10(cls, "1.2.826.0.1.77.1.3", overflow.Bytes())},
		{"truncated file", real[:len(real)/2]},
		{"truncated header", real[:200]},
		{"missing SOPInstanceUID", gwtest.Part10(cls, "1.2.826.0.1.77.1.3", noSOP)},
		{"UID with letters", gwtest.Part10(cls, "1.2.826.0.1.77.ab", letters)},
		{"UID with ../", gwtest.Part10(cls, "1.2.826.0.1.77.1.3", dots)},
		{"not DICOM", []byte("hello, I am a JPEG")},
	} {
		resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: c.body}})
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("%s: %d %s, want 409", c.name, resp.StatusCode, body)
			continue
		}
		if r := seqUIDs(t, body, "00081198", "00081197"); len(r) != 1 {
			t.Errorf("%s: FailedSOPSequence %v", c.name, r)
		}
		if !strings.Contains(string(body), "00000902") {
			t.Errorf("%s: no ErrorComment explaining the failure", c.name)
		}
	}

	// Request-level errors.
	body, ct := gwtest.Multipart([]gwtest.Part{{Body: real}})
	unclosed := body[:bytes.LastIndex(body, []byte("\r\n--"))]
	for _, c := range []struct {
		name, ct string
		body     []byte
		want     int
	}{
		{"wrong Content-Type", "application/json", body, 415},
		{"no Content-Type", "", body, 415},
		{"multipart of XML", `multipart/related; type="application/dicom+xml"; boundary=x`, body, 415},
		{"no boundary", `multipart/related; type="application/dicom"`, body, 400},
		{"empty body", ct, nil, 400},
		{"boundary never closed", ct, unclosed, 400},
	} {
		resp, b := gwtest.Do(t, "POST", gw.URL+"/studies", map[string]string{"Content-Type": c.ct, "Accept": "application/dicom+json"}, bytes.NewReader(c.body))
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, b, c.want)
		}
	}
	// Oversized body against a gateway with a small limit: 413.
	small := gwtest.Start(t, gw.Store, gwtest.Options{MaxRequestBytes: 64 << 10})
	resp, b := gwtest.Stow(t, small.URL+"/studies", gwtest.FileParts(t, filepath.Join(man.Dir, man.Files[0].Path), filepath.Join(man.Dir, man.Files[1].Path)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s, want 413", resp.StatusCode, b)
	}
	if n := len(qido(t, gw, "/studies", url.Values{})); n != studyCount {
		t.Errorf("bad input changed the study count: %d -> %d", studyCount, n)
	}
	assertInstanceBytes(t, gw, man.Files[0], real)
}

var _ = binary.LittleEndian
