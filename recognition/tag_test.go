package recognition

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestTagComputation runs the tag computation over real generated studies
// for the cases of the issue: recognised on the last day, expired the day
// after, region mismatch, uncertified institution, the Yangtze River Delta
// across provinces, and more.
func TestTagComputation(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	ctJS := fx.study(t, "CT", "jsph")    // CT head, Jiangsu (YRD)
	ctSH := fx.study(t, "CT", "zsh-fdu") // CT head, Shanghai (YRD)
	crSH := fx.study(t, "CR", "zsh-fdu") // chest CR, Shanghai
	otSH := fx.study(t, "OT", "zsh-fdu") // secondary capture: no item
	mrBJ := fx.study(t, "MR", "pumch")   // MR prostate, Beijing (JJJ)

	// validUntil of a study for anyone, from the real tag.
	until := func(study string) string {
		tag, err := fx.svc.Tag(ctx, study, "")
		if err != nil {
			t.Fatal(err)
		}
		if tag.ValidUntil == "" {
			t.Fatalf("%s: no valid-until in %+v", study, tag)
		}
		return tag.ValidUntil
	}
	uncertified := func(s *state) *state {
		insts, regs := s.institutionLists()
		for i, in := range insts {
			if in.ID == "jsph" {
				c := *in
				c.Certification = &Certification{From: "2020-01-01", Until: "2024-12-31"}
				insts[i] = &c
			}
		}
		return newState(insts, regs, s.sortedItems)
	}
	withNanjingCounty := func(s *state) *state {
		insts, regs := s.institutionLists()
		insts = append(insts, &Institution{ID: "nj-county", Name: "南京示例区医院", Province: "320000",
			Certification: &Certification{From: "2024-01-01", Until: "2028-12-31"}})
		return newState(insts, regs, s.sortedItems)
	}
	cases := []struct {
		name       string
		study      string
		asking     string
		now        time.Time
		edit       func(*state) *state
		want       Status
		wantItem   string
		wantRegion string
		reason     string // substring of the reason
	}{
		{name: "recognised on the last day, across provinces in YRD", study: ctJS, asking: "fahzu", now: at(t, until(ctJS), 0),
			want: StatusRecognised, wantItem: "CT01", wantRegion: "YRD"},
		{name: "expired the day after", study: ctJS, asking: "fahzu", now: at(t, until(ctJS), 1),
			want: StatusExpired, wantItem: "CT01", wantRegion: "YRD", reason: "30-day validity"},
		{name: "region mismatch: Beijing asks for Jiangsu", study: ctJS, asking: "pumch", now: at(t, until(ctJS), -3),
			want: StatusOutsideRegion, wantItem: "CT01", reason: "长三角"},
		{name: "uncertified institution", study: ctJS, asking: "fahzu", now: at(t, until(ctJS), -3), edit: uncertified,
			want: StatusNotCertified, wantItem: "CT01", reason: "quality-control certification"},
		{name: "YRD: Anhui asks for Shanghai", study: ctSH, asking: "ayfy", now: at(t, until(ctSH), 0),
			want: StatusRecognised, wantItem: "CT01", wantRegion: "YRD"},
		{name: "YRD: Jiangsu asks for Shanghai", study: ctSH, asking: "jsph", now: at(t, until(ctSH), -1),
			want: StatusRecognised, wantItem: "CT01", wantRegion: "YRD"},
		{name: "same province counts under the province", study: ctJS, asking: "nj-county", now: at(t, until(ctJS), 0), edit: withNanjingCounty,
			want: StatusRecognised, wantItem: "CT01", wantRegion: "320000"},
		{name: "same institution", study: ctSH, asking: "zsh-fdu", now: at(t, until(ctSH), 0),
			want: StatusRecognised, wantItem: "CT01", wantRegion: "310000"},
		{name: "JJJ does not reach YRD", study: mrBJ, asking: "zsh-fdu", now: at(t, until(mrBJ), 0),
			want: StatusOutsideRegion, wantItem: "MR04"},
		{name: "Tianjin asks for Beijing in JJJ", study: mrBJ, asking: "tmugh", now: at(t, until(mrBJ), 0),
			want: StatusRecognised, wantItem: "MR04", wantRegion: "JJJ"},
		{name: "chest CR expired", study: crSH, asking: "jsph", now: at(t, until(crSH), 10),
			want: StatusExpired, wantItem: "DR01", wantRegion: "YRD"},
		{name: "no catalogue item", study: otSH, asking: "jsph", now: fx.now,
			want: StatusNotEligible, reason: "No catalogue item"},
		{name: "unknown asking institution", study: ctJS, asking: "nowhere", now: at(t, until(ctJS), 0),
			want: StatusOutsideRegion, wantItem: "CT01", reason: "not in the registry"},
		{name: "no asking institution: no region check", study: ctJS, now: at(t, until(ctJS), 0),
			want: StatusRecognised, wantItem: "CT01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := fx.svc.state()
			if c.edit != nil {
				st = c.edit(st)
			}
			row, err := fx.db.Study(c.study)
			if err != nil {
				t.Fatal(err)
			}
			got := st.evaluate(factsOf(row, fx.db.SeriesOf(c.study)), fx.svc.eligibility(ctx, c.study), c.asking, c.now)
			if got.Status != c.want || got.Item != c.wantItem || got.Region != c.wantRegion {
				t.Errorf("got %s item %q region %q (%s), want %s item %q region %q",
					got.Status, got.Item, got.Region, got.Reason, c.want, c.wantItem, c.wantRegion)
			}
			if c.reason != "" && !strings.Contains(got.Reason, c.reason) {
				t.Errorf("reason %q lacks %q", got.Reason, c.reason)
			}
			if got.Status == StatusRecognised && got.Reason != "" {
				t.Errorf("recognised with a reason: %q", got.Reason)
			}
		})
	}
}

// TestWindowFromStricterDate: a StudyDate later than the day the gateway
// received the study cannot stretch the window; a future StudyDate makes
// the study not eligible.
func TestWindowFromStricterDate(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	study := fx.study(t, "CT", "jsph")
	row, err := fx.db.Study(study)
	if err != nil {
		t.Fatal(err)
	}
	st := fx.svc.state()
	f := factsOf(row, fx.db.SeriesOf(study))
	received := f.StudyDate.AddDate(0, 0, -10)
	f.Received = received
	got := st.evaluate(f, nil, "fahzu", f.StudyDate)
	if want := isoDate(received.AddDate(0, 0, 30)); got.ValidUntil != want || got.Anchor != isoDate(received) {
		t.Errorf("valid until %s from %s, want %s from the receipt day %s", got.ValidUntil, got.Anchor, want, isoDate(received))
	}
	// A StudyDate in the future of the check.
	f = factsOf(row, fx.db.SeriesOf(study))
	got = st.evaluate(f, nil, "fahzu", f.StudyDate.AddDate(0, 0, -2))
	if got.Status != StatusNotEligible || !strings.Contains(got.Reason, "in the future") {
		t.Errorf("future StudyDate: %s %q", got.Status, got.Reason)
	}
	// Through the ingest check, stored and then honoured by the tag.
	fx.now = f.StudyDate.AddDate(0, 0, -2)
	e, err := fx.svc.Check(ctx, study)
	if err != nil {
		t.Fatal(err)
	}
	if e.Eligible || e.Problems[0].Code != ProblemFutureStudyDate {
		t.Errorf("eligibility %+v", e)
	}
	fx.now = f.StudyDate.AddDate(0, 0, 1)
	if tag, _ := fx.svc.Tag(ctx, study, "fahzu"); tag.Status != StatusNotEligible {
		t.Errorf("tag after a future-dated ingest: %s", tag.Status)
	}
}

// TestEligibilityAtIngest: the observer stored an explained outcome for
// every study.
func TestEligibilityAtIngest(t *testing.T) {
	fx := newFixture(t, nil)
	ctx := context.Background()
	for _, s := range fx.man.Studies() {
		e, err := fx.svc.Eligibility(ctx, s.StudyUID)
		if err != nil {
			t.Fatalf("%s: %v", s.StudyUID, err)
		}
		if e.Holding == "" || e.AttributedBy != "institution_name" || e.Issuer == "" || e.Series != 2 || e.Instances != 4 {
			t.Errorf("%s: %+v", s.InstitutionName, e)
		}
		wantEligible := s.Series[0].Modality != "OT"
		if e.Eligible != wantEligible || e.Explanation == "" {
			t.Errorf("%s %s: eligible %v (%s), want %v", s.Series[0].Modality, s.StudyUID, e.Eligible, e.Explanation, wantEligible)
		}
	}
}

// TestPrivateBlock: the block's tags and values.
func TestPrivateBlock(t *testing.T) {
	tag := Tag{Status: StatusRecognised, Item: "CT01", ItemName: "头颅CT平扫", ValidUntil: "2026-12-24",
		Scope: []string{"320000", "YRD"}, Holding: "jsph"}
	b := tag.Block()
	want := map[string]string{
		"00110010": "IMGCLOUD RECOGNITION", "00111001": "RECOGNISED", "00111002": "CT01",
		"00111003": "头颅CT平扫", "00111004": "20261224", "00111006": "jsph",
	}
	for k, v := range want {
		if b.String(k) != v {
			t.Errorf("%s = %q, want %q", k, b.String(k), v)
		}
	}
	if got := b.Strings("00111005"); strings.Join(got, `\`) != `320000\YRD` {
		t.Errorf("scope %v", got)
	}
	if _, ok := b["00111007"]; ok {
		t.Error("reason present for a recognised study")
	}
	if b["00111001"].VR != "CS" || b["00111004"].VR != "DA" || b["00110010"].VR != "LO" {
		t.Error("wrong VRs")
	}
}
