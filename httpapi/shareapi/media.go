package shareapi

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
)

// The study zip is a PS3.10 file set, what a hospital's CD import reads:
//
//	DICOMDIR                          the Basic Directory (PS3.3 F.3)
//	README.TXT                        what this is, in Chinese and English
//	DICOM/P0000001/S0000001/I0000001  the files, as stored, byte for byte
//
// P is the one patient's (and study's) folder, S0000001... the series
// and I0000001... the instances in the order the index lists them: File
// ID components of at most 8 characters of A-Z and 0-9, no extension
// (PS3.10 8.2, PS3.12 ISO 9660 media).
const fileSetID = "IMGCLOUD"

// mediaLayout is a study's file set: the DICOMDIR's content and, for
// each instance, its path in the zip.
type mediaLayout struct {
	dir   dcm.DirStudy
	paths map[string]string // SOP Instance UID -> zip path
	// Facts for the readme and the file name.
	description, date, hospital string
}

func fileID(series, instance int) []string {
	return []string{"DICOM", "P0000001", fmt.Sprintf("S%07d", series), fmt.Sprintf("I%07d", instance)}
}

// layout plans the file set of a study's instances (as Instances lists
// them, grouped by series) with the study and series attributes the index
// holds.
func (a *API) layout(ctx context.Context, study string, ins []*archive.Instance) (*mediaLayout, error) {
	res, err := a.opt.Archive.Search(ctx, archive.Query{Level: archive.LevelSeries, Study: study, IncludeAll: true}, archive.Scope{})
	if err != nil {
		return nil, fmt.Errorf("zip %s: series: %w", study, err)
	}
	seriesAttrs := map[string]dcm.Dataset{}
	var st dcm.Dataset
	for _, d := range res.Items {
		seriesAttrs[d.String("0020000E")] = d
		if st == nil {
			st = d
		}
	}
	if st == nil {
		st = dcm.Dataset{}
	}
	l := &mediaLayout{paths: map[string]string{}, description: st.String("00081030"), date: st.String("00080020"),
		hospital: st.String("00080080")}
	l.dir = dcm.DirStudy{PatientName: pnString(st.PN("00100010")), PatientID: st.String("00100020"), StudyUID: study,
		StudyDate: l.date, StudyTime: st.String("00080030"), StudyID: st.String("00200010"),
		StudyDescription: l.description, AccessionNumber: st.String("00080050")}
	index := map[string]int{}
	for _, in := range ins {
		i, ok := index[in.Series]
		if !ok {
			i = len(l.dir.Series)
			index[in.Series] = i
			se := seriesAttrs[in.Series]
			n, _ := se.Int("00200011")
			l.dir.Series = append(l.dir.Series, dcm.DirSeries{UID: in.Series, Modality: se.String("00080060"), Number: n})
		}
		se := &l.dir.Series[i]
		id := fileID(i+1, len(se.Instances)+1)
		n, _ := in.Attrs.Int("00200013")
		se.Instances = append(se.Instances, dcm.DirInstance{FileID: id, SOPClass: in.Attrs.String("00080016"), SOP: in.SOP,
			TransferSyntax: in.TransferSyntax, Number: n})
		l.paths[in.SOP] = strings.Join(id, "/")
	}
	return l, nil
}

// pnString writes a DICOM JSON person name as a PN value.
func pnString(p dcm.PersonName) string {
	s := p.Alphabetic
	if p.Ideographic != "" || p.Phonetic != "" {
		s += "=" + p.Ideographic
	}
	if p.Phonetic != "" {
		s += "=" + p.Phonetic
	}
	return s
}

// readme is README.TXT: UTF-8 with a byte order mark and CRLF line ends,
// so that Windows Notepad shows the Chinese right.
func (l *mediaLayout) readme(instances int, made time.Time) []byte {
	exam, date, hospital := orDash(l.description), orDash(formatDA(l.date)), orDash(l.hospital)
	lines := []string{
		"医学影像检查 (DICOM 文件)",
		"",
		"本文件夹是一项医学影像检查的原始 DICOM 文件，按 DICOM 标准 (PS3.10) 的介质格式存放，",
		"与医院刻录的影像光盘相同。请交给医院的影像科或信息科导入 (从 DICOMDIR 导入)。",
		"",
		"检查: " + exam,
		"日期: " + date,
		"医院: " + hospital,
		fmt.Sprintf("文件: %d 个影像", instances),
		"",
		"Medical imaging study (DICOM files)",
		"",
		"This folder holds the original DICOM files of one imaging study, in the DICOM",
		"media layout (PS3.10) of a hospital's image CD. Give it to a hospital's",
		"radiology or IT department to import (import from DICOMDIR).",
		"",
		"Exam:     " + exam,
		"Date:     " + date,
		"Hospital: " + hospital,
		fmt.Sprintf("Files:    %d images", instances),
		"",
		"DICOMDIR: the directory; DICOM/P0000001/S.../I...: one file per image.",
		"Downloaded " + made.In(cst).Format("2006-01-02 15:04") + " (北京时间 CST).",
	}
	return []byte("\ufeff" + strings.Join(lines, "\r\n") + "\r\n")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// formatDA writes a DA value (YYYYMMDD) as YYYY-MM-DD.
func formatDA(s string) string {
	if len(s) == 8 {
		return s[:4] + "-" + s[4:6] + "-" + s[6:]
	}
	return s
}

// disposition names the zip after the exam and its date
// ("20261003_CT头颅平扫.zip"), with an ASCII fallback filename and the
// UTF-8 name in filename* (RFC 6266, RFC 8187).
func (l *mediaLayout) disposition() string {
	date := l.date
	if len(date) != 8 || strings.Trim(date, "0123456789") != "" {
		date = "study"
	}
	var b strings.Builder
	for _, r := range l.description {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.':
			b.WriteRune(r)
		case unicode.IsSpace(r) || r == '/' || r == '\\':
			b.WriteByte('_')
		}
		if b.Len() > 120 {
			break
		}
	}
	name := strings.Trim(b.String(), "._")
	ascii := date + "_study"
	if date == "study" {
		ascii = "study"
	}
	if name != "" {
		var a strings.Builder
		for _, r := range name {
			if r < 0x80 {
				a.WriteRune(r)
			}
		}
		if s := strings.Trim(a.String(), "._"); s != "" && s == name {
			ascii = date + "_" + s
		}
		name = date + "_" + name
	} else {
		name = ascii
	}
	return fmt.Sprintf(`attachment; filename="%s.zip"; filename*=UTF-8''%s`, ascii, url.PathEscape(name+".zip"))
}
