package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mem is one reading of /proc/PID/status (bytes).
type mem struct {
	RSS, HWM, Anon, File int64
}

func readMem(pid int) (mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM" && k != "RssAnon" && k != "RssFile") {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.RSS = n * 1024
		case "VmHWM":
			m.HWM = n * 1024
		case "RssAnon":
			m.Anon = n * 1024
		case "RssFile":
			m.File = n * 1024
		}
	}
	return m, sc.Err()
}

// rssSample is one point of the RSS curve.
type rssSample struct {
	AtMs   int64   `json:"at_ms"`
	RSSMB  float64 `json:"rss_mb"`
	AnonMB float64 `json:"rss_anon_mb"`
	FileMB float64 `json:"rss_file_mb"`
}

// sampler reads a process's memory every interval until stopped.
type sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []rssSample
	maxRSS  int64
	maxAnon int64
	lastHWM int64
	errs    int
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	if pid <= 0 {
		close(s.done)
		return s
	}
	start := time.Now()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m, err := readMem(pid)
			s.mu.Lock()
			if err != nil {
				s.errs++
			} else {
				s.samples = append(s.samples, rssSample{AtMs: time.Since(start).Milliseconds(), RSSMB: mb(m.RSS), AnonMB: mb(m.Anon), FileMB: mb(m.File)})
				s.maxRSS = max(s.maxRSS, m.RSS)
				s.maxAnon = max(s.maxAnon, m.Anon)
				s.lastHWM = m.HWM
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the samples, the highest VmRSS seen,
// the last VmHWM read and the highest RssAnon seen.
func (s *sampler) Stop() ([]rssSample, int64, int64, int64) {
	if s.pid > 0 {
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.maxRSS, s.lastHWM, s.maxAnon
}

// curve picks a few evenly spaced samples to show the shape of the curve.
func curve(samples []rssSample, points int) []rssSample {
	if len(samples) <= points {
		return samples
	}
	out := make([]rssSample, 0, points)
	for i := 0; i < points; i++ {
		out = append(out, samples[i*(len(samples)-1)/(points-1)])
	}
	return out
}
