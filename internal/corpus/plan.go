package corpus

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// patient is one synthetic patient, possibly shared by several studies.
type patient struct {
	id     string
	name   personName
	style  int
	sex    string
	birth  time.Time
	hosp   hospital
	weight int
}

// pn returns the patient's name as written in PatientName.
func (p *patient) pn() string { return p.name.pn(p.style) }

// ageAt returns the DICOM AS value of the patient's age on a date.
func (p *patient) ageAt(t time.Time) string {
	years := t.Year() - p.birth.Year()
	if t.YearDay() < p.birth.YearDay() {
		years--
	}
	return fmt.Sprintf("%03dY", max(years, 0))
}

// studyPlan holds everything decided about one study before writing it.
type studyPlan struct {
	index     int
	kind      kind
	patient   *patient
	uid       string
	when      time.Time
	accession string
	id        string
	referring string
	series    []*seriesPlan
}

// seriesPlan holds everything decided about one series.
type seriesPlan struct {
	uid       string
	frameUID  string
	number    int
	when      time.Time
	desc      text
	source    string
	instances []*instancePlan
}

// instancePlan holds everything decided about one instance.
type instancePlan struct {
	uid    string
	number int
	when   time.Time
	path   string // relative, slash separated
}

// zh reports whether the study's texts are written in Chinese.
func (s *studyPlan) zh() bool { return chinese(s.patient.style) }

// newPatients draws n patients; name styles rotate so every style occurs.
func newPatients(r *rand.Rand, n int, today time.Time, styles int) []*patient {
	hs := hospitals()
	out := make([]*patient, n)
	for i := range out {
		sex := "M"
		if r.IntN(2) == 1 {
			sex = "F"
		}
		age := 18 + r.IntN(68)
		out[i] = &patient{
			id:     fmt.Sprintf("PID%d", 1000001+i),
			name:   randomName(r, sex),
			style:  i % styles,
			sex:    sex,
			birth:  today.AddDate(-age, 0, -r.IntN(365)),
			hosp:   hs[r.IntN(len(hs))],
			weight: 45 + r.IntN(46),
		}
	}
	return out
}

// newStudy draws the study-level attributes of study number index.
func newStudy(r *rand.Rand, index int, k kind, p *patient, today time.Time) *studyPlan {
	when := today.AddDate(0, 0, -(1 + r.IntN(60))).
		Add(8*time.Hour + time.Duration(r.IntN(600))*time.Minute + time.Duration(r.IntN(60))*time.Second)
	doctorSex := []string{"M", "F"}[r.IntN(2)]
	return &studyPlan{
		index:     index,
		kind:      k,
		patient:   p,
		uid:       newUID(r),
		when:      when,
		accession: fmt.Sprintf("A%s%04d%04d", when.Format("060102"), r.IntN(10000), index+1),
		id:        fmt.Sprintf("%d", 10000+r.IntN(90000)),
		referring: randomName(r, doctorSex).pn(p.style),
	}
}

// addSeries draws a series with n instances and appends it to the study.
func (s *studyPlan) addSeries(r *rand.Rand, desc text, source string, n int) *seriesPlan {
	i := len(s.series)
	se := &seriesPlan{
		uid:      newUID(r),
		frameUID: newUID(r),
		number:   i + 1,
		when:     s.when.Add(time.Duration(3*i+r.IntN(3)) * time.Minute),
		desc:     desc,
		source:   source,
	}
	for j := 0; j < n; j++ {
		se.instances = append(se.instances, &instancePlan{
			uid:    newUID(r),
			number: j + 1,
			when:   se.when.Add(time.Duration(2*j) * time.Second),
			path:   fmt.Sprintf("study%03d/series%02d/img%04d.dcm", s.index+1, se.number, j+1),
		})
	}
	s.series = append(s.series, se)
	return se
}

// planCorpus decides every study, series and instance of a Generate run.
// All random draws happen here, in a fixed order, so output is reproducible.
func planCorpus(opt Options) []*studyPlan {
	r := newRand(opt.Seed)
	nPatients := max(1, (opt.Studies*6+5)/10)
	patients := newPatients(r, nPatients, opt.Today, styleCount)

	owner := make([]int, opt.Studies)
	for i := range owner {
		if i < nPatients {
			owner[i] = i
		} else {
			owner[i] = r.IntN(nPatients)
		}
	}
	r.Shuffle(len(owner), func(i, j int) { owner[i], owner[j] = owner[j], owner[i] })

	bigAt := bigPositions(opt.Studies, opt.Big)
	small, bigs := smallKinds(), bigKinds()
	nSmall, nBig := 0, 0
	studies := make([]*studyPlan, opt.Studies)
	for i := range studies {
		var k kind
		if bigAt[i] {
			k = bigs[nBig%len(bigs)]
			nBig++
		} else {
			k = small[nSmall%len(small)]
			nSmall++
		}
		st := newStudy(r, i, k, patients[owner[i]], opt.Today)
		for s := 0; s < opt.SeriesPerStudy; s++ {
			st.addSeries(r, k.series[s%len(k.series)], k.sources[s%len(k.sources)], opt.InstancesPerSeries)
		}
		studies[i] = st
	}
	return studies
}

// bigPositions spreads big study positions evenly over n studies.
func bigPositions(n, big int) []bool {
	at := make([]bool, n)
	big = min(big, n)
	for k := 0; k < big; k++ {
		at[(2*k+1)*n/(2*big)] = true
	}
	return at
}
