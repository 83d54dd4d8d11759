package dicomweb_test

// Go benchmarks of the DICOMweb surface on the in-process test gateway
// (internal/testutil/gwtest) with the folder store, sized for a 2-core machine:
//
//	go test ./dicomweb -run '^$' -bench . -benchtime 2s
//
// Each reports its figures with b.ReportMetric / b.SetBytes: instances/s
// and MB/s for STOW, p50/p99 latency for the reads. Every answer is
// checked (status, and count or size of what came back). The whole-system
// figures (separate processes, 4 clients, Orthanc side by side) come from
// scripts/bench.sh; see BENCHMARKS.md.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// benchFile is one corpus file held in memory.
type benchFile struct {
	corpus.File
	Data []byte
}

// benchCorpus generates a corpus, reads it into memory and deletes the
// files, so nothing is left behind however the benchmark ends.
func benchCorpus(b *testing.B, opt corpus.Options) []benchFile {
	b.Helper()
	dir, err := os.MkdirTemp("", "gw-bench-corpus-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opt.Today = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	m, err := corpus.Generate(dir, opt)
	if err != nil {
		b.Fatalf("generate corpus: %v", err)
	}
	out := make([]benchFile, 0, len(m.Files))
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchFile{File: f, Data: data})
	}
	return out
}

// benchStart runs a gateway over a fresh folder store.
func benchStart(b *testing.B) *gwtest.Gateway {
	b.Helper()
	st, err := file.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return gwtest.Start(b, st, gwtest.Options{})
}

// benchStudies groups files by study, in corpus order.
func benchStudies(files []benchFile) [][]benchFile {
	var out [][]benchFile
	at := map[string]int{}
	for _, f := range files {
		i, ok := at[f.StudyUID]
		if !ok {
			i = len(out)
			at[f.StudyUID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], f)
	}
	return out
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}, Timeout: 2 * time.Minute}

// benchStow sends one multipart/related STOW request and checks that every
// part was stored.
func benchStow(url string, parts [][]byte) error {
	var gp []gwtest.Part
	for _, p := range parts {
		gp = append(gp, gwtest.Part{Body: p})
	}
	body, ct := gwtest.Multipart(gp)
	req, err := http.NewRequest(http.MethodPost, url+"/studies", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := benchClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("STOW: HTTP %d: %.300s", resp.StatusCode, ans)
	}
	var top map[string]struct {
		Value json.RawMessage
	}
	if err := json.Unmarshal(ans, &top); err != nil {
		return fmt.Errorf("STOW answer: %w", err)
	}
	var refs []json.RawMessage
	if err := json.Unmarshal(top["00081199"].Value, &refs); err != nil || len(refs) != len(parts) {
		return fmt.Errorf("STOW referenced %d of %d instances (%v)", len(refs), len(parts), err)
	}
	if _, failed := top["00081198"]; failed {
		return fmt.Errorf("STOW answer has a FailedSOPSequence: %.300s", ans)
	}
	return nil
}

// benchLoad stores every study, one request each.
func benchLoad(b *testing.B, gw *gwtest.Gateway, files []benchFile) {
	b.Helper()
	for _, st := range benchStudies(files) {
		var parts [][]byte
		for _, f := range st {
			parts = append(parts, f.Data)
		}
		if err := benchStow(gw.URL, parts); err != nil {
			b.Fatal(err)
		}
	}
}

// benchGet fetches url and returns the body; any non-2xx is an error.
func benchGet(url, accept string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := benchClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return resp, body, fmt.Errorf("GET %s: HTTP %d: %.300s", url, resp.StatusCode, body)
	}
	return resp, body, nil
}

// reportLatency reports p50 and p99 of the iterations in milliseconds.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	b.ReportMetric(float64(rank(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(rank(0.99).Microseconds())/1000, "p99-ms")
}

// uidRewriter derives fresh copies of a study: every Study, Series and SOP
// Instance UID of the template is replaced by a new one of the same length,
// so each iteration stores new instances (not duplicates). Offsets are
// found once, so a copy costs one memmove plus the patches.
type uidRewriter struct {
	uids []string   // distinct UIDs of the template
	at   [][][2]int // per file: (offset, uid index) of each occurrence
	n    atomic.Uint64
	run  int64
}

func newUIDRewriter(study []benchFile) *uidRewriter {
	r := &uidRewriter{run: time.Now().UnixNano() % 1e12}
	seen := map[string]bool{}
	for _, f := range study {
		for _, u := range []string{f.StudyUID, f.SeriesUID, f.SOPUID} {
			if !seen[u] {
				seen[u] = true
				r.uids = append(r.uids, u)
			}
		}
	}
	// Longest first, so that no UID is found inside a longer one.
	slices.SortFunc(r.uids, func(a, b string) int { return len(b) - len(a) })
	for _, f := range study {
		var occ [][2]int
		taken := map[int]bool{}
		for ui, u := range r.uids {
			for off := 0; ; {
				i := bytes.Index(f.Data[off:], []byte(u))
				if i < 0 {
					break
				}
				if !taken[off+i] {
					occ = append(occ, [2]int{off + i, ui})
					for k := off + i; k < off+i+len(u); k++ {
						taken[k] = true
					}
				}
				off += i + len(u)
			}
		}
		r.at = append(r.at, occ)
	}
	return r
}

// fresh returns rewritten copies of the template's files.
func (r *uidRewriter) fresh(study []benchFile) [][]byte {
	nu := make([][]byte, len(r.uids))
	for i, u := range r.uids {
		k := r.n.Add(1)
		s := "2.25." + fmt.Sprintf("1%012d%014d", r.run, k)
		for len(s) < len(u) {
			s += "7"
		}
		nu[i] = []byte(s[:len(u)])
	}
	out := make([][]byte, len(study))
	for i, f := range study {
		d := bytes.Clone(f.Data)
		for _, o := range r.at[i] {
			copy(d[o[0]:], nu[o[1]])
		}
		out[i] = d
	}
	return out
}

// BenchmarkSTOW stores one 10-instance study per operation from 4
// concurrent clients (small PT/MR/OT instances of 4.6-65 kB), each with
// fresh UIDs. Reports instances/s and MB/s of DICOM payload.
func BenchmarkSTOW(b *testing.B) {
	files := benchCorpus(b, corpus.Options{Studies: 6, SeriesPerStudy: 2, InstancesPerSeries: 5, Seed: 1})
	studies := benchStudies(files)
	rewriters := make([]*uidRewriter, len(studies))
	var total int64
	for i, st := range studies {
		rewriters[i] = newUIDRewriter(st)
		for _, f := range st {
			total += int64(len(f.Data))
		}
	}
	perStudy := len(studies[0])
	gw := benchStart(b)
	b.SetBytes(total / int64(len(studies)))
	b.SetParallelism(2) // 2 x GOMAXPROCS clients: 4 on a 2-core machine
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)-1) % len(studies)
			if err := benchStow(gw.URL, rewriters[i].fresh(studies[i])); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*perStudy)/el.Seconds(), "instances/s")
}

// BenchmarkQIDOStudies runs study-level searches over 60 studies (360
// instances) and checks the number of matches of each answer.
func BenchmarkQIDOStudies(b *testing.B) {
	files := benchCorpus(b, corpus.Options{Studies: 60, SeriesPerStudy: 2, InstancesPerSeries: 3, Seed: 3})
	gw := benchStart(b)
	benchLoad(b, gw, files)

	type study struct {
		uid, pid, name, date string
		mods                 []string
	}
	var sts []study
	for _, st := range benchStudies(files) {
		s := study{uid: st[0].StudyUID, pid: st[0].PatientID, name: st[0].PatientName, date: st[0].StudyDate}
		for _, f := range st {
			if !slices.Contains(s.mods, f.Modality) {
				s.mods = append(s.mods, f.Modality)
			}
		}
		sts = append(sts, s)
	}
	count := func(match func(study) bool) int {
		n := 0
		for _, s := range sts {
			if match(s) {
				n++
			}
		}
		return n
	}
	type query struct {
		q    string
		want int
	}
	var byPID, byDate, byMod, byName []query
	for _, s := range sts {
		byPID = append(byPID, query{"PatientID=" + url.QueryEscape(s.pid), count(func(o study) bool { return o.pid == s.pid })})
		d, _ := time.Parse("20060102", s.date)
		from, to := d.AddDate(0, 0, -3).Format("20060102"), d.AddDate(0, 0, 3).Format("20060102")
		byDate = append(byDate, query{"StudyDate=" + from + "-" + to, count(func(o study) bool { return o.date >= from && o.date <= to })})
		for _, m := range s.mods {
			if !slices.ContainsFunc(byMod, func(q query) bool { return q.q == "ModalitiesInStudy="+m }) {
				byMod = append(byMod, query{"ModalitiesInStudy=" + m, count(func(o study) bool { return slices.Contains(o.mods, m) })})
			}
		}
		// Pinyin surname prefix, e.g. ZHANG*: matches "ZHANG^WEI" and
		// "Zhang^Wei=张^伟" (PN matching is case-insensitive).
		if sur, _, ok := strings.Cut(s.name, "^"); ok && !strings.ContainsAny(sur, "=") {
			p := strings.ToUpper(sur)
			if !slices.ContainsFunc(byName, func(q query) bool { return q.q == "PatientName="+p+"*" }) {
				byName = append(byName, query{"PatientName=" + p + "*", count(func(o study) bool { return strings.HasPrefix(strings.ToUpper(o.name), p) })})
			}
		}
	}
	for _, kind := range []struct {
		name    string
		queries []query
	}{{"PatientID", byPID}, {"DateRange7d", byDate}, {"Modality", byMod}, {"NameWildcard", byName}} {
		b.Run(kind.name, func(b *testing.B) {
			if len(kind.queries) == 0 {
				b.Skip("no query of this kind in the corpus")
			}
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := kind.queries[i%len(kind.queries)]
				t0 := time.Now()
				_, body, err := benchGet(gw.URL+"/studies?"+q.q, "application/dicom+json")
				durs = append(durs, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				var arr []json.RawMessage
				if len(body) > 0 {
					if err := json.Unmarshal(body, &arr); err != nil {
						b.Fatalf("%s: %v", q.q, err)
					}
				}
				if len(arr) != q.want {
					b.Fatalf("%s: %d studies, want %d", q.q, len(arr), q.want)
				}
			}
			b.StopTimer()
			reportLatency(b, durs)
		})
	}
}

// BenchmarkSeriesMetadata500 fetches /studies/{s}/series/{se}/metadata of
// a 500-instance series (stored once, in one STOW request).
func BenchmarkSeriesMetadata500(b *testing.B) {
	files := benchCorpus(b, corpus.Options{Studies: 1, SeriesPerStudy: 1, InstancesPerSeries: 500, Seed: 5})
	gw := benchStart(b)
	var parts [][]byte
	for _, f := range files {
		parts = append(parts, f.Data)
	}
	if err := benchStow(gw.URL, parts); err != nil {
		b.Fatal(err)
	}
	u := gw.URL + "/studies/" + files[0].StudyUID + "/series/" + files[0].SeriesUID + "/metadata"
	b.Run("get", func(b *testing.B) {
		durs := make([]time.Duration, 0, b.N)
		var size int
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			_, body, err := benchGet(u, "application/dicom+json")
			durs = append(durs, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			size = len(body)
			if i == 0 {
				var arr []json.RawMessage
				if err := json.Unmarshal(body, &arr); err != nil || len(arr) != len(files) {
					b.Fatalf("metadata lists %d instances, want %d (%v)", len(arr), len(files), err)
				}
			}
		}
		b.StopTimer()
		b.SetBytes(int64(size))
		reportLatency(b, durs)
	})
}

// BenchmarkFrame fetches single frames of the 2-frame enhanced CT (512 x
// 512 x 16 bits: 512 KiB each) as multipart/related octet-stream.
func BenchmarkFrame(b *testing.B) {
	files := benchCorpus(b, corpus.Options{Studies: 2, SeriesPerStudy: 1, InstancesPerSeries: 1, Big: 2, Seed: 9})
	var ct *benchFile
	for i := range files {
		if files[i].NumberOfFrames > 1 {
			ct = &files[i]
		}
	}
	if ct == nil {
		b.Fatal("corpus has no multi-frame instance")
	}
	gw := benchStart(b)
	if err := benchStow(gw.URL, [][]byte{ct.Data}); err != nil {
		b.Fatal(err)
	}
	frameSize := ct.Rows * ct.Columns * ct.BitsAllocated / 8 * max(1, ct.SamplesPerPixel)
	inst := gw.URL + "/studies/" + ct.StudyUID + "/series/" + ct.SeriesUID + "/instances/" + ct.SOPUID
	for _, k := range []int{1, 2} {
		b.Run(fmt.Sprintf("frame%d", k), func(b *testing.B) {
			b.SetBytes(int64(frameSize))
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				resp, body, err := benchGet(fmt.Sprintf("%s/frames/%d", inst, k), `multipart/related; type="application/octet-stream"`)
				durs = append(durs, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := benchPartSize(resp.Header.Get("Content-Type"), body); err != nil || n != frameSize {
					b.Fatalf("frame %d: part of %d bytes, want %d (%v)", k, n, frameSize, err)
				}
			}
			b.StopTimer()
			reportLatency(b, durs)
		})
	}
}

// benchPartSize returns the size of the first part of a multipart answer.
func benchPartSize(ct string, body []byte) (int, error) {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, err
	}
	p, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, p)
	return int(n), err
}
