package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/index/postgres"
)

// The index-level scale benchmark (issue 18): "gwbench index gen" writes
// index rows for many instances straight through index.PutInstance (the
// index half of STOW's write path, without objects), with realistic
// distributions; "gwbench index query" opens that index in a fresh process
// and times archive searches of each kind, as QIDO runs them.

var (
	surnames = [][2]string{{"Zhang", "张"}, {"Wang", "王"}, {"Li", "李"}, {"Liu", "刘"}, {"Chen", "陈"}, {"Yang", "杨"},
		{"Huang", "黄"}, {"Zhao", "赵"}, {"Wu", "吴"}, {"Zhou", "周"}, {"Xu", "徐"}, {"Sun", "孙"}, {"Ma", "马"}, {"Zhu", "朱"}, {"Hu", "胡"}, {"Guo", "郭"}}
	givens = [][2]string{{"Wei", "伟"}, {"Fang", "芳"}, {"Na", "娜"}, {"Min", "敏"}, {"Jing", "静"}, {"Li", "丽"}, {"Qiang", "强"},
		{"Lei", "磊"}, {"Jun", "军"}, {"Yang", "洋"}, {"Yong", "勇"}, {"Yan", "艳"}, {"Jie", "杰"}, {"Tao", "涛"}, {"Ming", "明"}, {"Chao", "超"}}
	benchMods = []string{"CT", "CT", "CT", "MR", "MR", "CR", "DX", "DX", "US", "PT"}
	// benchDescs are StudyDescriptions by modality, in English and
	// Chinese as hospitals write them.
	benchDescs = map[string][]string{
		"CT": {"CT CHEST W/O CONTRAST", "胸部CT平扫", "CT HEAD", "腹部CT增强", "CT Abdomen Pelvis"},
		"MR": {"MR BRAIN W/WO", "头颅MR平扫", "MR KNEE LEFT", "腰椎MR"},
		"CR": {"CHEST PA", "胸部正位"},
		"DX": {"CHEST PA AND LAT", "胸部正侧位", "HAND RIGHT"},
		"US": {"US ABDOMEN", "腹部彩超", "甲状腺彩超"},
		"PT": {"PET/CT WHOLE BODY", "全身PET/CT"},
	}
)

func indexBenchCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gwbench index gen|query -dir DIR [flags]")
	}
	switch args[0] {
	case "gen":
		return indexGen(ctx, args[1:], os.Stdout)
	case "query":
		return indexQuery(ctx, args[1:], os.Stdout)
	}
	return fmt.Errorf("gwbench index: unknown %q (gen, query)", args[0])
}

type benchPatient struct {
	id, institution string
	name            dcm.PersonName
	birth, sex      string
}

func benchPatientOf(h, p int) benchPatient {
	r := rand.New(rand.NewPCG(uint64(h), uint64(p)))
	s, g := surnames[r.IntN(len(surnames))], givens[r.IntN(len(givens))]
	var name dcm.PersonName
	switch r.IntN(3) {
	case 0:
		name = dcm.PersonName{Alphabetic: s[0] + "^" + g[0], Ideographic: s[1] + "^" + g[1]}
	case 1:
		name = dcm.PersonName{Alphabetic: s[1] + g[1]}
	default:
		name = dcm.PersonName{Alphabetic: strings.ToUpper(s[0] + "^" + g[0])}
	}
	sex := "M"
	if r.IntN(2) == 0 {
		sex = "F"
	}
	return benchPatient{id: fmt.Sprintf("H%02dP%05d", h, p), institution: fmt.Sprintf("Hospital %02d", h), name: name,
		birth: fmt.Sprintf("%04d%02d%02d", 1940+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28)), sex: sex}
}

func str(vr, v string) *dcm.Element { return &dcm.Element{VR: vr, Value: []any{v}} }

func indexGen(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("index gen", flag.ContinueOnError)
	dir := fs.String("dir", "", "index directory (created)")
	var df drawFlags
	df.bind(fs)
	pgURL := fs.String("index", "", "write into this postgres:// index instead of a Badger folder (password from PGPASSWORD)")
	writers := fs.Int("c", 1, "concurrent writers (one study each at a time; a postgres index gains from several)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" && *pgURL == "" {
		return fmt.Errorf("index gen: -dir or -index is required")
	}
	var db index.Store
	var err error
	if *pgURL != "" {
		db, err = postgres.Open(ctx, postgres.Options{URL: *pgURL, MaxConns: int32(max(*writers, 4))})
	} else {
		db, err = index.Open(index.Options{Dir: *dir})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	// The studies are drawn here, in order (the same data for any -c), and
	// written by the writers.
	work := make(chan []index.NewInstance, *writers)
	errs := make(chan error, *writers)
	for range *writers {
		go func() {
			var first error
			for batch := range work {
				for _, ni := range batch {
					if first == nil {
						first = db.PutInstance(ni)
					}
				}
			}
			errs <- first
		}()
	}
	wait := func() error {
		close(work)
		var first error
		for range *writers {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	meta := []byte(strings.Repeat("m", 600)) // about a compressed instance's metadata
	draw := df.draw()
	t0 := time.Now()
	n := 0
	for i := range df.studies {
		if err := ctx.Err(); err != nil {
			wait()
			return err
		}
		var batch []index.NewInstance
		bs := draw.next(i)
		for _, se := range bs.series {
			for k, sop := range se.sops {
				batch = append(batch, index.NewInstance{
					Instance: &index.Instance{Study: bs.uid, Series: se.uid, SOP: sop, Key: "studies/" + bs.uid + "/" + se.uid + "/" + sop + ".dcm", Size: 65536, TransferSyntax: "1.2.840.10008.1.2.1",
						Attrs: dcm.Dataset{"00080018": str("UI", sop), "00200013": &dcm.Element{VR: "IS", Value: []any{float64(k + 1)}}, "00080016": str("UI", benchSOPClass)}},
					Meta: meta, SeriesAttrs: se.attrs, StudyAttrs: bs.attrs, Modality: se.modality, Received: bs.day,
				})
				n++
			}
		}
		work <- batch
		if (i+1)%10000 == 0 {
			fmt.Fprintf(out, "%d studies, %d instances, %.0f inst/s\n", i+1, n, float64(n)/time.Since(t0).Seconds())
		}
	}
	if err := wait(); err != nil {
		return err
	}
	if err := db.Sync(); err != nil {
		return err
	}
	// The rows stand for instances stored long ago: a checkpoint past them
	// keeps a gateway's start (archive.Recover) from dropping them for
	// want of objects, so that serve answers QIDO over them.
	if err := db.SetCheckpoint(db.Seq()); err != nil {
		return err
	}
	el := time.Since(t0)
	where := dirSize(*dir)
	if *pgURL != "" {
		where = postgres.Redact(*pgURL)
	}
	fmt.Fprintf(out, "wrote %d studies, %d instances in %s (%.0f inst/s, %d writers), index %s\n", df.studies, n, el.Round(time.Second), float64(n)/el.Seconds(), *writers, where)
	return nil
}

// benchStudy is one study the generators write: its study-level
// attributes, and its series with their SOP Instance UIDs.
type benchStudy struct {
	uid    string
	day    time.Time
	attrs  dcm.Dataset
	series []benchSeries
}

type benchSeries struct {
	uid, modality string
	attrs         dcm.Dataset
	sops          []string
}

// benchSOPClass is the SOP class of every generated instance (CT Image
// Storage).
const benchSOPClass = "1.2.840.10008.5.1.4.1.1.2"

// drawFlags are the flags of the archive both generators draw.
type drawFlags struct {
	studies, series, instances, hospitals, patients int
	seed                                            uint64
}

func (d *drawFlags) bind(fs *flag.FlagSet) {
	fs.IntVar(&d.studies, "studies", 100000, "studies")
	fs.IntVar(&d.series, "series", 2, "series per study")
	fs.IntVar(&d.instances, "instances", 5, "instances per series")
	fs.IntVar(&d.hospitals, "hospitals", 40, "hospitals")
	fs.IntVar(&d.patients, "patients", 2000, "patients per hospital")
	fs.Uint64Var(&d.seed, "seed", 1, "random seed")
}

func (d drawFlags) draw() *studyDraw {
	return newStudyDraw(d.seed, d.hospitals, d.patients, d.series, d.instances)
}

// studyDraw draws studies in order from one random source, so that "index
// gen" and "store gen" with the same flags describe the same archive.
type studyDraw struct {
	r                                      *rand.Rand
	seed                                   uint64
	hospitals, patients, series, instances int
	start                                  time.Time
}

func newStudyDraw(seed uint64, hospitals, patients, series, instances int) *studyDraw {
	return &studyDraw{r: rand.New(rand.NewPCG(seed, 18)), seed: seed, hospitals: hospitals, patients: patients,
		series: series, instances: instances, start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// next draws study number i (calls must come in order).
func (d *studyDraw) next(i int) benchStudy {
	r := d.r
	p := benchPatientOf(r.IntN(d.hospitals), r.IntN(d.patients))
	study := fmt.Sprintf("2.25.18%d.%d", d.seed, i)
	day := d.start.AddDate(0, 0, r.IntN(3*365))
	st := dcm.Dataset{
		"00080020": str("DA", day.Format("20060102")),
		"00080030": str("TM", fmt.Sprintf("%02d%02d%02d", 7+r.IntN(12), r.IntN(60), r.IntN(60))),
		"00080050": str("SH", fmt.Sprintf("A%s%06d", day.Format("060102"), i)),
		"00080080": str("LO", p.institution),

		"00100010": &dcm.Element{VR: "PN", Value: []any{p.name}},
		"00100020": str("LO", p.id),
		"00100030": str("DA", p.birth),
		"00100040": str("CS", p.sex),
		"0020000D": str("UI", study),
	}
	mod := benchMods[r.IntN(len(benchMods))]
	// From the study's number, not the random source: the rest of the
	// data is the same as before descriptions were added.
	st["00081030"] = str("LO", benchDescs[mod][i%len(benchDescs[mod])])
	bs := benchStudy{uid: study, day: day, attrs: st}
	for j := range d.series {
		se := fmt.Sprintf("%s.%d", study, j+1)
		m := mod
		if j > 0 && mod == "CT" && r.IntN(4) == 0 {
			m = "PT"
		}
		bse := benchSeries{uid: se, modality: m, attrs: dcm.Dataset{"00080060": str("CS", m), "00200011": &dcm.Element{VR: "IS", Value: []any{float64(j + 1)}},
			"0020000E": str("UI", se), "0008103E": str("LO", m+" series")}}
		for k := range d.instances {
			bse.sops = append(bse.sops, fmt.Sprintf("%s.%d", se, k+1))
		}
		bs.series = append(bs.series, bse)
	}
	return bs
}

func dirSize(dir string) string {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			// Blocks, not the length: Badger's value log is a sparse
			// preallocated file.
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

func selfRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

func indexQuery(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("index query", flag.ContinueOnError)
	dir := fs.String("dir", "", "index directory (from index gen)")
	n := fs.Int("n", 300, "queries per kind")
	limit := fs.Int("limit", 100, "limit of the date, modality, name and list queries")
	hospitals := fs.Int("hospitals", 40, "hospitals (as in gen)")
	patients := fs.Int("patients", 2000, "patients per hospital (as in gen)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the queries to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the queries to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t0 := time.Now()
	db, err := index.Open(index.Options{Dir: *dir})
	if err != nil {
		return err
	}
	defer db.Close()
	studies, series, instances := db.Counts()
	fmt.Fprintf(out, "open: %s, RSS %s, %d studies, %d series, %d instances, index %s (load %s)\n",
		time.Since(t0).Round(time.Millisecond), selfRSS(), studies, series, instances, dirSize(*dir), loadavg())
	svc := archive.New(nil, db, archive.Options{Visibility: archive.Unrestricted{}})
	r := rand.New(rand.NewPCG(7, 7))
	day := func() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(3*365)) }
	var someStudies []string
	_ = db.ScanOrder("", func(c index.Cursor) bool {
		if r.IntN(200) == 0 {
			someStudies = append(someStudies, c.UID)
		}
		return len(someStudies) < 2000
	})
	kinds := []struct {
		name string
		q    func() archive.Query
	}{
		{"PatientID (half of them with studies)", func() archive.Query {
			id := benchPatientOf(r.IntN(*hospitals), r.IntN(*patients)).id
			if r.IntN(2) == 0 {
				st, _ := db.Study(someStudies[r.IntN(len(someStudies))])
				id = st.Attrs.String("00100020")
			}
			return archive.Query{Params: []archive.Param{{Tag: "00100020", Value: id}}}
		}},
		{"StudyDate 7 days, limit", func() archive.Query {
			d := day()
			return archive.Query{Params: []archive.Param{{Tag: "00080020", Value: d.Format("20060102") + "-" + d.AddDate(0, 0, 6).Format("20060102")}}, Limit: *limit}
		}},
		{"ModalitiesInStudy, limit", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00080061", Value: benchMods[r.IntN(len(benchMods))]}}, Limit: *limit}
		}},
		{"PatientName ZHANG*, limit", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00100010", Value: strings.ToUpper(surnames[r.IntN(len(surnames))][0]) + "*"}}, Limit: *limit}
		}},
		{"PatientName 张*, limit", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00100010", Value: surnames[r.IntN(len(surnames))][1] + "*"}}, Limit: *limit}
		}},
		{"AccessionNumber", func() archive.Query {
			st, _ := db.Study(someStudies[r.IntN(len(someStudies))])
			return archive.Query{Params: []archive.Param{{Tag: "00080050", Value: st.Attrs.String("00080050")}}}
		}},
		{"study list (no key), limit", func() archive.Query { return archive.Query{Limit: *limit} }},
		{"StudyDescription *word*, limit", func() archive.Query {
			words := []string{"*CHEST*", "*平扫*", "*BRAIN*", "*彩超*", "*ABDOMEN*", "*PET*"}
			return archive.Query{Params: []archive.Param{{Tag: "00081030", Value: words[r.IntN(len(words))]}}, Limit: *limit}
		}},
		{"study list with total count, limit", func() archive.Query { return archive.Query{Limit: *limit, Count: true} }},
		{"ModalitiesInStudy with total count, limit", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00080061", Value: benchMods[r.IntN(len(benchMods))]}}, Limit: *limit, Count: true}
		}},
		{"study list, offset 15000", func() archive.Query { return archive.Query{Limit: *limit, Offset: 15000} }},
		{"bad: PatientName *ei* alone (no key), limit", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00100010", Value: "*ei*"}}, Limit: *limit}
		}},
		{"bad: StudyDescription *q* (nothing), limit", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00081030", Value: "*q*"}}, Limit: *limit}
		}},
		{"bad: PatientName *xq* (no key, no match)", func() archive.Query {
			return archive.Query{Params: []archive.Param{{Tag: "00100010", Value: "*xq*"}}, Limit: *limit}
		}},
		{"bad: offset 900000", func() archive.Query { return archive.Query{Limit: *limit, Offset: 900000} }},
		{"series of a study", func() archive.Query {
			return archive.Query{Level: archive.LevelSeries, Study: someStudies[r.IntN(len(someStudies))]}
		}},
		{"instances of a study", func() archive.Query {
			return archive.Query{Level: archive.LevelInstance, Study: someStudies[r.IntN(len(someStudies))]}
		}},
	}
	// Work per query, steadier than times on a loaded machine: processor
	// time (getrusage), allocations, and study rows decoded (the study
	// cache's misses: one Badger get each).
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	fmt.Fprintf(out, "| query (%d each, c=1) | p50 ms | p99 ms | avg hits | CPU ms/q | allocs/q | rows decoded/q |\n|---|---|---|---|---|---|---|\n", *n)
	var all []time.Duration
	for _, k := range kinds {
		var lat []time.Duration
		hits, refused, partial, total := 0, 0, 0, 0
		reps := *n
		bad := strings.HasPrefix(k.name, "bad") || strings.Contains(k.name, "offset")
		if bad {
			reps = max(3, *n/30)
		}
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		cpu0, miss0 := cpuTime(), db.CacheStats()[1].Misses
		for range reps {
			q := k.q()
			t := time.Now()
			res, err := svc.Search(ctx, q, archive.Scope{})
			lat = append(lat, time.Since(t))
			var inv *archive.InvalidError
			switch {
			case errors.As(err, &inv):
				refused++ // the bound's 400
				continue
			case err != nil:
				return fmt.Errorf("%s: %w", k.name, err)
			}
			hits += len(res.Items)
			if len(res.Warnings) > 0 {
				partial++
			}
			total += res.Total
		}
		cpu, misses := cpuTime()-cpu0, db.CacheStats()[1].Misses-miss0
		runtime.ReadMemStats(&ms1)
		slices.Sort(lat)
		if !bad { // bad input is reported, not in the mix
			all = append(all, lat...)
		}
		note := ""
		if refused > 0 {
			note += fmt.Sprintf(", %d refused (400)", refused)
		}
		if partial > 0 {
			note += fmt.Sprintf(", %d partial (Warning)", partial)
		}
		if total > 0 {
			note += fmt.Sprintf(", avg total %d", total/reps)
		}
		fmt.Fprintf(out, "| %s | %.2f | %.2f | %.1f%s | %.2f | %d | %.1f |\n", k.name, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), float64(hits)/float64(reps), note,
			ms(cpu)/float64(reps), (ms1.Mallocs-ms0.Mallocs)/uint64(reps), float64(misses)/float64(reps))
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	runtime.GC()
	cs := db.CacheStats()[1]
	hit, miss, rows, bytes := cs.Hits, cs.Misses, cs.Rows, cs.Bytes
	fmt.Fprintf(out, "mix: %.0f queries/s on one core (mean %.2f ms); RSS after queries %s; study cache %d rows (%d MB), %d hits, %d misses (load %s)\n",
		float64(len(all))/sum.Seconds(), ms(sum/time.Duration(len(all))), selfRSS(), rows, bytes>>20, hit, miss, loadavg())
	return nil
}

// cpuTime is the processor time (user and system) of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
