package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// dwReport is the part of a dwbench -json report the summary reads.
type dwReport struct {
	OK              bool `json:"ok"`
	TotalErrors     int  `json:"total_errors"`
	TotalMismatches int  `json:"total_mismatches"`
	Results         []struct {
		Name        string  `json:"name"`
		Group       string  `json:"group"`
		Concurrency int     `json:"concurrency"`
		Requests    int     `json:"requests"`
		Errors      int     `json:"errors"`
		Mismatches  int     `json:"mismatches"`
		ReqPerSec   float64 `json:"req_per_s"`
		ItemsPerSec float64 `json:"items_per_s"`
		MBPerSec    float64 `json:"mb_per_s"`
		LatencyMS   struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
	} `json:"results"`
	ServerCPU map[string]float64 `json:"server_cpu_s"`
}

// series of values over runs: median and range.
type vals []float64

func (v vals) med() float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (v vals) String() string {
	if len(v) == 0 {
		return "-"
	}
	if len(v) == 1 {
		return num(v[0])
	}
	return fmt.Sprintf("%s (%s..%s)", num(v.med()), num(slices.Min(v)), num(slices.Max(v)))
}

func num(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
}

// server gathers the figures of one server over its runs.
type server struct {
	name    string
	metrics map[string]vals
	errs    map[string][2]int // per operation: errors, mismatches
	runs    int
}

func (s *server) add(k string, v float64) {
	if s.metrics == nil {
		s.metrics = map[string]vals{}
	}
	s.metrics[k] = append(s.metrics[k], v)
}

func loadServer(dir, prefix string) (*server, error) {
	s := &server{name: prefix, errs: map[string][2]int{}}
	full, _ := filepath.Glob(filepath.Join(dir, prefix+"-full-*.json"))
	for _, f := range full {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r dwReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		s.runs++
		for _, x := range r.Results {
			if x.Requests == 0 {
				continue
			}
			rate := x.ReqPerSec
			if x.Group == "stow" {
				rate = x.ItemsPerSec
			}
			s.add(x.Name+"|rate", rate)
			s.add(x.Name+"|mbs", x.MBPerSec)
			s.add(x.Name+"|p50", x.LatencyMS.P50)
			s.add(x.Name+"|p99", x.LatencyMS.P99)
			e := s.errs[x.Name]
			e[0] += x.Errors
			e[1] += x.Mismatches
			s.errs[x.Name] = e
		}
	}
	each := func(kind string, fn func(b []byte) error) error {
		files, _ := filepath.Glob(filepath.Join(dir, prefix+"-"+kind+"-*.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := fn(b); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		return nil
	}
	if err := each("series", func(b []byte) error {
		var o seriesOut
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		k := fmt.Sprintf("meta%dc%d", o.Instances, o.Clients)
		s.add(k+"|p50", o.Latency.P50ms)
		s.add(k+"|p99", o.Latency.P99ms)
		s.add(k+"|rate", o.ReqPerSec)
		s.add(k+"|mb", mb(int64(o.Bytes)))
		e := s.errs[k]
		e[0] += o.Errors
		e[1] += o.Mismatches
		s.errs[k] = e
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each("frame", func(b []byte) error {
		var o frameOut
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		for k, l := range o.PerFrame {
			s.add("ct-"+k+"|p50", l.P50ms)
			s.add("ct-"+k+"|p99", l.P99ms)
			s.add("ct-"+k+"|rate", o.ReqPerSec[k])
		}
		e := s.errs["ct-frame"]
		e[0] += o.Errors
		e[1] += o.Mismatches
		s.errs["ct-frame"] = e
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each("bigstow", func(b []byte) error {
		var o bigStowOut
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		s.add("big|mbs", o.MBps)
		s.add("big|mb", o.MB)
		s.add("big|s", o.Seconds)
		s.add("big|rss0", o.RSSBeforeMB)
		s.add("big|rsspeak", o.RSSPeakMB)
		if o.AnonPeakMB > 0 { // older reports lack it
			s.add("big|anonpeak", o.AnonPeakMB)
		}
		s.add("big|hwm", o.HWMAfterMB)
		return nil
	}); err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`reindex: (\d+) objects, (\d+) indexed.*?(\d+) failed.* in ([0-9.a-zµ]+) \((\d+) instances/s\)`)
	txt, _ := filepath.Glob(filepath.Join(dir, prefix+"-reindex-*.txt"))
	for _, f := range txt {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if m := re.FindStringSubmatch(string(b)); m != nil {
			n, _ := strconv.ParseFloat(m[1], 64)
			r, _ := strconv.ParseFloat(m[5], 64)
			fl, _ := strconv.Atoi(m[3])
			s.add("reindex|objects", n)
			s.add("reindex|rate", r)
			e := s.errs["reindex"]
			e[0] += fl
			s.errs["reindex"] = e
		}
	}
	return s, nil
}

func (s *server) get(k string) vals {
	if s == nil {
		return nil
	}
	return s.metrics[k]
}

// summaryCmd prints the markdown tables of a results directory written by
// scripts/bench.sh.
func summaryCmd(args []string) error {
	fs := flag.NewFlagSet("summary", flag.ContinueOnError)
	dir := fs.String("dir", ".", "results directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gw, err := loadServer(*dir, "gw")
	if err != nil {
		return err
	}
	or, err := loadServer(*dir, "orthanc")
	if err != nil {
		return err
	}
	mi, err := loadServer(*dir, "minio")
	if err != nil {
		return err
	}
	if or.runs == 0 && len(or.metrics) == 0 {
		or = nil
	}
	printSummary(os.Stdout, gw, or, mi)
	return nil
}

func printSummary(w io.Writer, gw, or, mi *server) {
	fmt.Fprintf(w, "Gateway (file store) vs Orthanc: medians over runs, (min..max); ratio = gateway/Orthanc for rates, Orthanc/gateway for latencies (higher = gateway better)\n\n")
	fmt.Fprintf(w, "| operation | figure | gateway | Orthanc | ratio | target |\n|---|---|---|---|---|---|\n")
	row := func(op, fig, key string, higherBetter bool, target string) {
		g, o := gw.get(key), or.get(key)
		if len(g) == 0 && len(o) == 0 {
			return
		}
		ratio := "-"
		if len(g) > 0 && len(o) > 0 && g.med() > 0 && o.med() > 0 {
			r := g.med() / o.med()
			if !higherBetter {
				r = o.med() / g.med()
			}
			ratio = fmt.Sprintf("%.1fx", r)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", op, fig, g, o, ratio, target)
	}
	row("STOW-RS 1 study/request, c=4", "inst/s", "stow/study|rate", true, ">= 3x")
	row("", "MB/s", "stow/study|mbs", true, "")
	row("", "p50 ms", "stow/study|p50", false, "")
	row("QIDO-RS mix of 7 kinds, c=4", "req/s", "qido/all (mix)|rate", true, ">= 10x")
	for _, k := range []string{"patient-id", "study-date-range", "modality", "name-pinyin-wildcard", "name-han-wildcard", "series-of-study", "instances-of-series"} {
		row("QIDO "+k, "p50 ms", "qido/"+k+"|p50", false, ">= 10x")
		row("", "p99 ms", "qido/"+k+"|p99", false, "")
	}
	row("WADO whole study, small, c=4", "MB/s", "wado/study (small)|mbs", true, "")
	row("", "p50 ms", "wado/study (small)|p50", false, "")
	row("WADO whole study, big (30.5 MB), c=4", "MB/s", "wado/study (big)|mbs", true, "")
	row("WADO series metadata (5 inst), c=4", "req/s", "wado/series-metadata|rate", true, ">= 10x")
	row("", "p50 ms", "wado/series-metadata|p50", false, "")
	row("", "p99 ms", "wado/series-metadata|p99", false, "")
	row("Series metadata (5 inst), c=4, light client (gwbench -verify scan)", "req/s", "meta5c4|rate", true, ">= 10x")
	row("", "p50 ms", "meta5c4|p50", false, "")
	row("Series metadata, 500-instance series, c=1", "p50 ms", "meta500c1|p50", false, ">= 10x")
	row("", "p99 ms", "meta500c1|p99", false, "")
	row("", "MB/answer", "meta500c1|mb", true, "")
	row("Series metadata, 500-instance series, c=4", "req/s", "meta500c4|rate", true, "")
	row("", "p50 ms", "meta500c4|p50", false, "")
	row("WADO /frames/1 small, c=4", "req/s", "wado/frame-1 (small)|rate", true, "")
	row("WADO /frames/1 big (CR/CT), c=4", "MB/s", "wado/frame-1 (big)|mbs", true, "")
	row("/frames/2 of the 2-frame CT, c=1", "p50 ms", "ct-frame2|p50", false, "")
	row("", "p99 ms", "ct-frame2|p99", false, "")
	row("/frames/1 of the 2-frame CT, c=1", "p50 ms", "ct-frame1|p50", false, "")
	row("1 GB study in ONE STOW request", "MB/s", "big|mbs", true, "")
	row("", "server RSS before, MB", "big|rss0", false, "")
	row("", "server peak RSS sampled, MB", "big|rsspeak", false, "< 300 MB, flat")
	row("", "server peak RssAnon sampled, MB", "big|anonpeak", false, "")
	row("", "server VmHWM after, MB", "big|hwm", false, "")
	row("reindex (file store, --fresh)", "inst/s", "reindex|rate", true, "")

	fmt.Fprintf(w, "\nErrors / mismatches (summed over runs)\n\n| check | gateway | Orthanc | MinIO gateway |\n|---|---|---|---|\n")
	names := map[string]bool{}
	for _, s := range []*server{gw, or, mi} {
		if s != nil {
			for k := range s.errs {
				names[k] = true
			}
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cell := func(s *server, k string) string {
		if s == nil {
			return "-"
		}
		e, ok := s.errs[k]
		if !ok {
			return "-"
		}
		mark := ""
		if e[0]+e[1] > 0 {
			mark = " **!!**"
		}
		return fmt.Sprintf("%d / %d%s", e[0], e[1], mark)
	}
	for _, k := range keys {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", k, cell(gw, k), cell(or, k), cell(mi, k))
	}

	if mi != nil && len(mi.metrics) > 0 {
		fmt.Fprintf(w, "\nGateway with MinIO as the object store (same corpus; medians (min..max))\n\n| operation | figure | MinIO | file store |\n|---|---|---|---|\n")
		mrow := func(op, fig, key string) {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", op, fig, mi.get(key), gw.get(key))
		}
		mrow("STOW-RS 1 study/request, c=4", "inst/s", "stow/study|rate")
		mrow("", "MB/s", "stow/study|mbs")
		mrow("WADO whole study, small, c=4", "MB/s", "wado/study (small)|mbs")
		mrow("WADO whole study, big, c=4", "MB/s", "wado/study (big)|mbs")
		mrow("WADO series metadata (5 inst), c=4", "req/s", "wado/series-metadata|rate")
		mrow("WADO /frames/1 small, c=4", "req/s", "wado/frame-1 (small)|rate")
		mrow("reindex --fresh", "inst/s", "reindex|rate")
		mrow("", "objects", "reindex|objects")
	}
}
