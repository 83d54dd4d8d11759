package push

import (
	"fmt"
	"strings"
	"testing"
)

func TestMapResponse(t *testing.T) {
	files := []*file{{sopUID: "1.1"}, {sopUID: "1.2"}, {sopUID: "1.3"}}
	body := `[{"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.1"]}}]},
	          "00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2"]},"00081197":{"vr":"US","Value":[49152]}}]}}]`
	out := mapResponse(202, "application/dicom+json", []byte(body), files)
	if !out[0].stored || out[1].stored || out[2].stored {
		t.Fatalf("outcomes %+v", out)
	}
	if out[1].reason != "FailureReason 49152 (0xC000 cannot understand)" {
		t.Errorf("reason %q", out[1].reason)
	}
	if !strings.HasPrefix(out[2].reason, "not listed in the STOW-RS response") {
		t.Errorf("reason %q", out[2].reason)
	}

	lower := `{"0008119a":{"vr":"SQ"},"00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.1"]},"00081197":{"vr":"US","Value":[1]}}]}}`
	out = mapResponse(409, "application/dicom+json", []byte(lower), files[:1])
	if out[0].stored || out[0].reason != "FailureReason 1 (0x0001)" {
		t.Errorf("outcome %+v", out[0])
	}

	out = mapResponse(200, "", nil, files)
	if !out[0].stored || !out[2].stored {
		t.Errorf("empty 200 answer: %+v", out)
	}
	out = mapResponse(500, "application/json", []byte(`{"error":"disk full"}`), files)
	if out[0].stored || out[0].reason != "HTTP 500 Internal Server Error: disk full" {
		t.Errorf("outcome %+v", out[0])
	}
	long := strings.Repeat("x", 1000)
	out = mapResponse(413, "text/plain", []byte(long), files[:1])
	if len(out[0].reason) > 400 {
		t.Errorf("reason not shortened: %d bytes", len(out[0].reason))
	}
}

// TestSummaryGroupsFailures: failures print once per reason, with the
// count and an example file, largest group first.
func TestSummaryGroupsFailures(t *testing.T) {
	var s Summary
	for i := 0; i < 25; i++ {
		s.Failures = append(s.Failures, Failure{Path: fmt.Sprintf("d/%02d.dcm", 30-i), Reason: fmt.Sprintf("not authorized: study 2.25.%d is held by h2", i)})
	}
	s.Failures = append(s.Failures, Failure{Path: "d/x.dcm", Reason: "duplicate"})
	s.Failed = 26
	var b strings.Builder
	s.Print(&b)
	out := b.String()
	if n := strings.Count(out, "not authorized"); n != 1 {
		t.Errorf("reason printed %d times, want once:\n%s", n, out)
	}
	for _, want := range []string{"failed 26, by reason", "    25  not authorized: study <UID> is held by h2\n          e.g. d/06.dcm", "     1  duplicate"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "duplicate") < strings.Index(out, "not authorized") {
		t.Errorf("larger group not first:\n%s", out)
	}
}

func TestMakeBatches(t *testing.T) {
	files := []*file{
		{studyUID: "A", size: 10}, {studyUID: "B", size: 10}, {studyUID: "A", size: 10},
		{studyUID: "A", size: 50}, {studyUID: "A", size: 5}, {studyUID: "B", size: 30},
	}
	got := makeBatches(files, 25)
	var shape []string
	for _, b := range got {
		var sizes []string
		for _, f := range b.files {
			sizes = append(sizes, strings.Repeat("#", int(f.size/5)))
		}
		shape = append(shape, b.study+":"+strings.Join(sizes, ","))
	}
	want := "A:##,## A:########## A:# B:## B:######"
	if s := strings.Join(shape, " "); s != want {
		t.Errorf("batches %s, want %s", s, want)
	}
}
