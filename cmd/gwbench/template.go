package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// template is one source file held in memory whose Study, Series and SOP
// Instance UIDs are rewritten in place (same length, so no other byte
// moves) to derive any number of distinct instances from it.
type template struct {
	Path      string
	Data      []byte
	Modality  string
	Rows      int
	Cols      int
	Bits      int
	Samples   int
	Frames    int
	StudyUID  string // current values in Data
	SeriesUID string
	SOPUID    string

	study, series, sop []int // byte offsets of every occurrence
	gen                uidGen
}

// sourceDir returns flagDir, or else the testdata of
// github.com/suyashkumar/dicom@v1.1.0 in the module cache.
func sourceDir(flagDir string) (string, error) {
	if flagDir != "" {
		return flagDir, nil
	}
	return corpus.SourceDir()
}

// loadTemplate reads path and locates its identifying UIDs.
func loadTemplate(path string) (*template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipPixelData())
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	str := func(t tag.Tag) string {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return ""
		}
		if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
			return strings.TrimRight(v[0], "\x00 ")
		}
		return ""
	}
	num := func(t tag.Tag, def int) int {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return def
		}
		switch v := e.Value.GetValue().(type) {
		case []int:
			if len(v) > 0 {
				return v[0]
			}
		case []string:
			if len(v) > 0 {
				if n, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil {
					return n
				}
			}
		}
		return def
	}
	t := &template{
		Path: path, Data: data,
		Modality: str(tag.Modality),
		Rows:     num(tag.Rows, 0), Cols: num(tag.Columns, 0),
		Bits: num(tag.BitsAllocated, 0), Samples: num(tag.SamplesPerPixel, 1),
		Frames:   num(tag.NumberOfFrames, 1),
		StudyUID: str(tag.StudyInstanceUID), SeriesUID: str(tag.SeriesInstanceUID), SOPUID: str(tag.SOPInstanceUID),
	}
	if ms := str(tag.MediaStorageSOPInstanceUID); ms != t.SOPUID {
		return nil, fmt.Errorf("%s: MediaStorageSOPInstanceUID %q differs from SOPInstanceUID %q", path, ms, t.SOPUID)
	}
	for _, u := range []struct {
		uid string
		at  *[]int
	}{{t.StudyUID, &t.study}, {t.SeriesUID, &t.series}, {t.SOPUID, &t.sop}} {
		if len(u.uid) < 24 {
			return nil, fmt.Errorf("%s: UID %q too short to rewrite", path, u.uid)
		}
		*u.at = tokenOffsets(data, u.uid)
		if len(*u.at) == 0 {
			return nil, fmt.Errorf("%s: UID %q not found in the bytes", path, u.uid)
		}
	}
	if err := t.gen.init(); err != nil {
		return nil, err
	}
	return t, nil
}

// tokenOffsets returns the offsets of uid in data where it is a whole value:
// not followed by a digit or '.', not preceded by '.'.
func tokenOffsets(data []byte, uid string) []int {
	var out []int
	needle := []byte(uid)
	for off := 0; ; {
		i := bytes.Index(data[off:], needle)
		if i < 0 {
			return out
		}
		at := off + i
		end := at + len(needle)
		okAfter := end == len(data) || !(data[end] == '.' || data[end] >= '0' && data[end] <= '9')
		okBefore := at == 0 || data[at-1] != '.'
		if okAfter && okBefore {
			out = append(out, at)
		}
		off = at + 1
	}
}

// NewStudy gives the template fresh Study and Series UIDs.
func (t *template) NewStudy() {
	t.StudyUID = t.set(t.study, t.StudyUID)
	t.SeriesUID = t.set(t.series, t.SeriesUID)
}

// NewSeries gives the template a fresh Series UID.
func (t *template) NewSeries() { t.SeriesUID = t.set(t.series, t.SeriesUID) }

// NewSOP gives the template a fresh SOP Instance UID.
func (t *template) NewSOP() { t.SOPUID = t.set(t.sop, t.SOPUID) }

func (t *template) set(offsets []int, old string) string {
	u := t.gen.next(len(old))
	for _, o := range offsets {
		copy(t.Data[o:], u)
	}
	return u
}

// FrameBytes is the size of one native frame.
func (t *template) FrameBytes() int { return t.Rows * t.Cols * t.Bits / 8 * t.Samples }

// verify parses the current bytes and checks the UIDs read back.
func (t *template) verify() error {
	ds, err := dicom.Parse(bytes.NewReader(t.Data), int64(len(t.Data)), nil, dicom.SkipPixelData())
	if err != nil {
		return fmt.Errorf("rewritten %s does not parse: %w", t.Path, err)
	}
	for _, c := range []struct {
		t    tag.Tag
		want string
	}{{tag.StudyInstanceUID, t.StudyUID}, {tag.SeriesInstanceUID, t.SeriesUID}, {tag.SOPInstanceUID, t.SOPUID}, {tag.MediaStorageSOPInstanceUID, t.SOPUID}} {
		e, err := ds.FindElementByTag(c.t)
		if err != nil {
			return fmt.Errorf("rewritten %s: %v: %w", t.Path, c.t, err)
		}
		v, _ := e.Value.GetValue().([]string)
		if len(v) == 0 || strings.TrimRight(v[0], "\x00 ") != c.want {
			return fmt.Errorf("rewritten %s: %v is %v, want %s", t.Path, c.t, v, c.want)
		}
	}
	return nil
}

// uidGen makes distinct syntactically valid UIDs of a given length:
// "2.25." followed by digits, a random per-run part and a counter. (Longer
// than 39 digits the value is not a real UUID integer; the UID is valid.)
type uidGen struct {
	run uint64
	n   uint64
}

func (g *uidGen) init() error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	g.run = binary.LittleEndian.Uint64(b[:]) % 1e15
	return nil
}

func (g *uidGen) next(length int) string {
	g.n++
	digits := length - len("2.25.")
	core := fmt.Sprintf("1%015d%010d", g.run, g.n) // 26 digits, leading 1
	switch {
	case digits <= len(core):
		core = core[len(core)-digits:]
		if core[0] == '0' {
			core = "9" + core[1:]
		}
	default:
		core = core + strings.Repeat("7", digits-len(core))
	}
	return "2.25." + core
}
