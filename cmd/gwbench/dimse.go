package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/imgcloud/gateway/dimse"
)

// ---------------------------------------------------------------- cfind

const studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

// corpusStudy is what cfind needs of a study of a gencorpus manifest.
type corpusStudy struct {
	UID       string `json:"study_instance_uid"`
	PatientID string `json:"patient_id"`
	Date      string `json:"study_date"`
}

type cfindOut struct {
	Addr       string    `json:"addr"`
	Called     string    `json:"called_ae"`
	C          int       `json:"c"`
	Queries    int       `json:"queries"`
	Seconds    float64   `json:"seconds"`
	PerSec     float64   `json:"queries_per_s"`
	Matches    int       `json:"matches"`
	Errors     int       `json:"errors"`
	Mismatches int       `json:"mismatches"`
	ByID       latencies `json:"by_patient_id"`
	ByDate     latencies `json:"by_study_date"`
	All        latencies `json:"all"`
}

// cfindCmd sends study-level C-FIND queries (Study Root) over c
// associations held open, alternating a patient ID and a study date of
// the corpus, each answer checked to contain the study it was drawn from.
func cfindCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cfind", flag.ContinueOnError)
	addr := fs.String("addr", "", "DICOM port, HOST:PORT (loopback only)")
	calling := fs.String("aet", "BENCH", "calling AE title")
	called := fs.String("aec", "IMGCLOUD", "called AE title")
	manifest := fs.String("corpus", "", "gencorpus corpus.json of what the server holds")
	n := fs.Int("n", 400, "queries in all")
	c := fs.Int("c", 1, "associations at once")
	jsonPath := fs.String("json", "", "also write the figures to this JSON file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: a loopback HOST:PORT is required", *addr)
	}
	var m struct {
		Studies []corpusStudy `json:"study_list"`
	}
	b, err := os.ReadFile(*manifest)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Studies) == 0 {
		return fmt.Errorf("%s: no study_list (%v)", *manifest, err)
	}
	out := cfindOut{Addr: *addr, Called: *called, C: *c, Queries: *n}
	var mu sync.Mutex
	var byID, byDate []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := dimse.Dial(ctx, *addr, dimse.ClientOptions{CallingAE: *calling, CalledAE: *called, Timeout: time.Minute,
				Contexts: []dimse.PresentationContext{{AbstractSyntax: studyRootFind, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}}}})
			if err != nil {
				mu.Lock()
				out.Errors++
				mu.Unlock()
				fmt.Fprintln(os.Stderr, "cfind: associate:", err)
				return
			}
			defer cl.Release()
			for i := w; i < *n; i += *c {
				st := m.Studies[(i*7919)%len(m.Studies)] // spread over the corpus
				t0 := time.Now()
				found, matches, err := findStudy(cl, st, i%2 == 0)
				d := time.Since(t0)
				mu.Lock()
				switch {
				case err != nil:
					out.Errors++
					fmt.Fprintln(os.Stderr, "cfind:", err)
				case !found:
					out.Mismatches++
				}
				out.Matches += matches
				if i%2 == 0 {
					byID = append(byID, d)
				} else {
					byDate = append(byDate, d)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	out.Seconds = time.Since(start).Seconds()
	out.PerSec = float64(len(byID)+len(byDate)) / out.Seconds
	out.ByID, out.ByDate, out.All = summarize(byID), summarize(byDate), summarize(append(byID, byDate...))
	fmt.Printf("cfind: %s %s, c=%d: %d queries, %.0f q/s, %.1f matches/q; p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (by PatientID p50 %.2f p99 %.2f; by StudyDate p50 %.2f p99 %.2f); errors %d, mismatches %d\n",
		*called, *addr, *c, out.All.N, out.PerSec, float64(out.Matches)/float64(max(out.All.N, 1)), out.All.P50ms, out.All.P90ms, out.All.P99ms, out.All.Maxms,
		out.ByID.P50ms, out.ByID.P99ms, out.ByDate.P50ms, out.ByDate.P99ms, out.Errors, out.Mismatches)
	if err := writeJSON(*jsonPath, out); err != nil {
		return err
	}
	if out.Errors > 0 || out.Mismatches > 0 {
		return fmt.Errorf("%w: %d errors, %d answers without their study", errMismatch, out.Errors, out.Mismatches)
	}
	return nil
}

// findStudy sends one study-level C-FIND by the study's patient ID (or
// its date) and reports whether its UID is among the matches.
func findStudy(cl *dimse.Client, st corpusStudy, byID bool) (found bool, matches int, err error) {
	id, ok := cl.ContextFor(studyRootFind, "1.2.840.10008.1.2.1")
	if !ok {
		return false, 0, errors.New("the Study Root C-FIND context was not accepted")
	}
	pid, date := "", ""
	if byID {
		pid = st.PatientID
	} else {
		date = st.Date
	}
	keys := identifier([][3]string{
		{"\x08\x00\x20\x00", "DA", date},    // StudyDate
		{"\x08\x00\x30\x00", "TM", ""},      // StudyTime
		{"\x08\x00\x50\x00", "SH", ""},      // AccessionNumber
		{"\x08\x00\x52\x00", "CS", "STUDY"}, // QueryRetrieveLevel
		{"\x08\x00\x61\x00", "CS", ""},      // ModalitiesInStudy
		{"\x08\x00\x30\x10", "LO", ""},      // StudyDescription
		{"\x10\x00\x10\x00", "PN", ""},      // PatientName
		{"\x10\x00\x20\x00", "LO", pid},     // PatientID
		{"\x20\x00\x0d\x00", "UI", ""},      // StudyInstanceUID
		{"\x20\x00\x08\x12", "IS", ""},      // NumberOfStudyRelatedInstances
	})
	cmd := dimse.Command{}
	cmd.SetString(dimse.TagAffectedSOPClassUID, studyRootFind)
	cmd.SetU16(dimse.TagCommandField, 0x0020)
	cmd.SetU16(dimse.TagMessageID, cl.NextMessageID())
	cmd.SetU16(dimse.TagPriority, 0)
	cmd.SetU16(dimse.TagDataSetType, 0)
	if err := cl.SendMessage(id, cmd, keys); err != nil {
		return false, 0, err
	}
	for {
		rsp, data, err := cl.ReadMessage()
		if err != nil {
			return found, matches, err
		}
		switch s, _ := rsp.U16(dimse.TagStatus); s {
		case 0xFF00, 0xFF01:
			matches++
			if uidIn(data, st.UID) {
				found = true
			}
		case 0:
			return found, matches, nil
		default:
			return found, matches, fmt.Errorf("C-FIND status %04X: %s", s, rsp.String(dimse.TagErrorComment))
		}
	}
}

// identifier encodes elements (tag bytes as in the stream, VR, value) in
// Explicit VR Little Endian, values padded to even length.
func identifier(els [][3]string) []byte {
	var b []byte
	for _, e := range els {
		v := e[2]
		if len(v)%2 == 1 {
			if e[1] == "UI" {
				v += "\x00"
			} else {
				v += " "
			}
		}
		b = append(b, e[0]...)
		b = append(b, e[1]...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return b
}

// uidIn reports whether the StudyInstanceUID element of an Explicit VR
// Little Endian identifier is uid.
func uidIn(data []byte, uid string) bool {
	for len(data) >= 8 {
		g, e := binary.LittleEndian.Uint16(data), binary.LittleEndian.Uint16(data[2:])
		vr := string(data[4:6])
		hdr, n := 8, int(binary.LittleEndian.Uint16(data[6:]))
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
			if len(data) < 12 {
				return false
			}
			hdr, n = 12, int(binary.LittleEndian.Uint32(data[8:]))
		}
		if n < 0 || hdr+n > len(data) {
			return false
		}
		if g == 0x0020 && e == 0x000D {
			v := string(data[hdr : hdr+n])
			for len(v) > 0 && (v[len(v)-1] == 0 || v[len(v)-1] == ' ') {
				v = v[:len(v)-1]
			}
			return v == uid
		}
		data = data[hdr+n:]
	}
	return false
}

// ---------------------------------------------------------------- bigstudy

// bigStudyCmd writes one study of N instances derived from a source file
// (fresh UIDs, rewritten in place) as files, for storescu.
func bigStudyCmd(args []string) error {
	fs := flag.NewFlagSet("bigstudy", flag.ContinueOnError)
	var c common
	c.bind(fs)
	dir := fs.String("out", "", "folder to write the instances into (created)")
	total := fs.Int64("bytes", 1e9, "write at least this many bytes (decides the instance count)")
	file := fs.String("file", "4.dcm", "source file in the source directory (the 7.5 MB CR by default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-out is required")
	}
	t, err := c.template(*file)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	t.NewStudy()
	n := int((*total + int64(len(t.Data)) - 1) / int64(len(t.Data)))
	for i := range n {
		t.NewSOP()
		if err := os.WriteFile(filepath.Join(*dir, fmt.Sprintf("%05d.dcm", i)), t.Data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("bigstudy: %d x %s (%d bytes each, %.0f MB) in %s, study %s\n", n, *file, len(t.Data), mb(int64(n*len(t.Data))), *dir, t.StudyUID)
	return nil
}
