package dicomweb

import (
	"net/url"
	"testing"

	"github.com/imgcloud/gateway/archive"
)

// FuzzParseQuery feeds arbitrary query strings to the QIDO parser: it must
// never panic, and a parsed query holds only 8-digit hex tags.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"PatientName=%E5%BC%A0*&limit=10&offset=2",
		"StudyDate=20260101-20261231&includefield=00081030%2C00080060&fuzzymatching=true",
		"00100020=PID1&includefield=all",
		"limit=-1", "NoSuch=1", "00400275.00321060=x", "includefield=,,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, l := range []archive.Level{archive.LevelStudy, archive.LevelSeries, archive.LevelInstance} {
			q, err := parseQuery(l, v)
			if err != nil {
				continue
			}
			for _, p := range q.Params {
				if len(p.Tag) != 8 {
					t.Fatalf("tag %q", p.Tag)
				}
			}
			if q.Limit < 0 || q.Offset < 0 {
				t.Fatalf("negative paging %d %d", q.Limit, q.Offset)
			}
		}
	})
}

// FuzzAccept feeds arbitrary Accept headers to the negotiation parser.
func FuzzAccept(f *testing.F) {
	for _, s := range []string{
		`multipart/related; type="application/dicom"; transfer-syntax=*`,
		`multipart/related; type="application/octet-stream; transfer-syntax=*", */*;q=0.1`,
		`application/dicom+json`, `;;;,,"`, `text/html;q=abc`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		for _, m := range parseAccept(h) {
			if m.q <= 0 {
				t.Fatalf("kept a q=%v range", m.q)
			}
		}
	})
}
