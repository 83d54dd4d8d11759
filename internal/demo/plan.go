package demo

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"time"
)

// The identities below are drawn exactly as internal/corpus draws them for
// its Options{Studies: 8, SeriesPerStudy: 2, InstancesPerSeries: 2, Big: 2,
// Seed: 2026}, the demo of earlier versions, so that every patient, name,
// hospital, date and accession number stays what users and tests know
// (TestIdentitiesMatchCorpus checks it). Change both or neither.
const (
	demoStudies   = 8
	demoSeries    = 2
	demoInstances = 2
	demoBig       = 2
	demoSeed      = 2026
)

// Name styles: how a patient's or physician's name is spelt in PN values.
const (
	styleBoth     = iota // "Zhang^Wei=张^伟", ISO_IR 192
	styleHan             // "张伟", ISO_IR 192
	styleRomanize        // "ZHANG^WEI", ISO_IR 100
	styleCount
)

// charsetFor returns the SpecificCharacterSet matching a name style.
func charsetFor(style int) string {
	if style == styleRomanize {
		return "ISO_IR 100"
	}
	return "ISO_IR 192"
}

// namePart is one part of a Chinese name in Han characters and pinyin.
type namePart struct{ han, pinyin string }

func surnames() []namePart {
	return []namePart{
		{"张", "Zhang"}, {"王", "Wang"}, {"李", "Li"}, {"刘", "Liu"}, {"陈", "Chen"},
		{"杨", "Yang"}, {"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"},
		{"徐", "Xu"}, {"孙", "Sun"}, {"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"},
		{"郭", "Guo"}, {"何", "He"}, {"林", "Lin"}, {"罗", "Luo"}, {"高", "Gao"},
	}
}

func givenNames(sex string) []namePart {
	if sex == "F" {
		return []namePart{
			{"芳", "Fang"}, {"娜", "Na"}, {"敏", "Min"}, {"静", "Jing"}, {"丽", "Li"},
			{"艳", "Yan"}, {"娟", "Juan"}, {"秀英", "Xiuying"}, {"霞", "Xia"},
			{"婷婷", "Tingting"}, {"海燕", "Haiyan"}, {"雪梅", "Xuemei"},
		}
	}
	return []namePart{
		{"伟", "Wei"}, {"强", "Qiang"}, {"磊", "Lei"}, {"军", "Jun"}, {"洋", "Yang"},
		{"勇", "Yong"}, {"杰", "Jie"}, {"涛", "Tao"}, {"明", "Ming"}, {"超", "Chao"},
		{"建华", "Jianhua"}, {"志强", "Zhiqiang"}, {"国平", "Guoping"},
	}
}

// personName is a Chinese name that can be spelt in any style.
type personName struct{ family, given namePart }

func randomName(r *rand.Rand, sex string) personName {
	fam := surnames()
	giv := givenNames(sex)
	return personName{family: fam[r.IntN(len(fam))], given: giv[r.IntN(len(giv))]}
}

// pn spells the name as a DICOM PN value in the given style.
func (n personName) pn(style int) string {
	switch style {
	case styleBoth:
		return n.family.pinyin + "^" + n.given.pinyin + "=" + n.family.han + "^" + n.given.han
	case styleHan:
		return n.family.han + n.given.han
	default:
		return strings.ToUpper(n.family.pinyin + "^" + n.given.pinyin)
	}
}

// hospital is a (fictitious record of a) tertiary hospital in China; the
// issuers are those of recognition/defaults/institutions.yaml.
type hospital struct{ zh, en, issuer string }

func hospitals() []hospital {
	return []hospital{
		{"北京协和医院", "Peking Union Medical College Hospital", "PUMCH"},
		{"复旦大学附属中山医院", "Zhongshan Hospital, Fudan University", "ZSH-FDU"},
		{"四川大学华西医院", "West China Hospital, Sichuan University", "WCH-SCU"},
		{"浙江大学医学院附属第一医院", "First Affiliated Hospital, Zhejiang Univ. Sch. of Med.", "FAHZU"},
		{"中山大学附属第一医院", "First Affiliated Hospital, Sun Yat-sen University", "FAH-SYSU"},
		{"华中科技大学同济医学院附属同济医院", "Tongji Hospital, Tongji Medical College, HUST", "TJH-HUST"},
		{"中南大学湘雅医院", "Xiangya Hospital, Central South University", "XYH-CSU"},
		{"山东大学齐鲁医院", "Qilu Hospital of Shandong University", "QLH-SDU"},
		{"江苏省人民医院", "Jiangsu Province Hospital", "JSPH"},
		{"中国医科大学附属第一医院", "First Hospital of China Medical University", "FH-CMU"},
		{"西安交通大学第一附属医院", "First Affiliated Hospital of Xi'an Jiaotong University", "FAH-XJTU"},
		{"郑州大学第一附属医院", "First Affiliated Hospital of Zhengzhou University", "FAH-ZZU"},
	}
}

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

func (p *patient) pn() string { return p.name.pn(p.style) }

// zh reports whether the patient's texts are written in Chinese.
func (p *patient) zh() bool { return p.style != styleRomanize }

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
	big       bool
	patient   *patient
	uid       string
	when      time.Time
	accession string
	id        string
	referring string
	series    []*seriesPlan
}

type seriesPlan struct {
	uid, frameUID string
	number        int
	when          time.Time
	instances     []*instancePlan
}

type instancePlan struct {
	uid    string
	number int
	when   time.Time
}

// newPatients draws n patients; name styles rotate so every style occurs.
func newPatients(r *rand.Rand, n int, today time.Time) []*patient {
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
			style:  i % styleCount,
			sex:    sex,
			birth:  today.AddDate(-age, 0, -r.IntN(365)),
			hosp:   hs[r.IntN(len(hs))],
			weight: 45 + r.IntN(46),
		}
	}
	return out
}

func newStudy(r *rand.Rand, index int, p *patient, today time.Time) *studyPlan {
	when := today.AddDate(0, 0, -(1 + r.IntN(60))).
		Add(8*time.Hour + time.Duration(r.IntN(600))*time.Minute + time.Duration(r.IntN(60))*time.Second)
	doctorSex := []string{"M", "F"}[r.IntN(2)]
	return &studyPlan{
		index:     index,
		patient:   p,
		uid:       newUID(r),
		when:      when,
		accession: fmt.Sprintf("A%s%04d%04d", when.Format("060102"), r.IntN(10000), index+1),
		id:        fmt.Sprintf("%d", 10000+r.IntN(90000)),
		referring: randomName(r, doctorSex).pn(p.style),
	}
}

func (s *studyPlan) addSeries(r *rand.Rand, n int) {
	i := len(s.series)
	se := &seriesPlan{
		uid:      newUID(r),
		frameUID: newUID(r),
		number:   i + 1,
		when:     s.when.Add(time.Duration(3*i+r.IntN(3)) * time.Minute),
	}
	for j := 0; j < n; j++ {
		se.instances = append(se.instances, &instancePlan{
			uid: newUID(r), number: j + 1, when: se.when.Add(time.Duration(2*j) * time.Second),
		})
	}
	s.series = append(s.series, se)
}

// plan decides every study, series and instance of the demo. All random
// draws happen here, in corpus's order.
func plan(today time.Time) []*studyPlan {
	r := newRand(demoSeed)
	nPatients := max(1, (demoStudies*6+5)/10)
	patients := newPatients(r, nPatients, today)
	owner := make([]int, demoStudies)
	for i := range owner {
		if i < nPatients {
			owner[i] = i
		} else {
			owner[i] = r.IntN(nPatients)
		}
	}
	r.Shuffle(len(owner), func(i, j int) { owner[i], owner[j] = owner[j], owner[i] })
	studies := make([]*studyPlan, demoStudies)
	for i := range studies {
		st := newStudy(r, i, patients[owner[i]], today)
		st.big = isBig(i)
		for range demoSeries {
			st.addSeries(r, demoInstances)
		}
		studies[i] = st
	}
	return studies
}

// isBig reports whether study i holds one of the demoBig large studies,
// spread evenly through the list.
func isBig(i int) bool {
	for k := range demoBig {
		if (2*k+1)*demoStudies/(2*demoBig) == i {
			return true
		}
	}
	return false
}

// newUID returns "2.25." followed by the decimal form of a 128-bit random
// value shaped like a version 4 UUID (ITU-T X.667), drawn from r.
func newUID(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(uint64(0xc0)<<56) | uint64(0x80)<<56
	v := new(big.Int).SetUint64(hi)
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(lo))
	return "2.25." + v.String()
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}
