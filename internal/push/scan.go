package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgcloud/gateway/dcm"
)

// reasonNotDICOM is the Skips reason for files without a Part 10 header.
const reasonNotDICOM = "not DICOM Part 10"

// file is a DICOM file to send.
type file struct {
	path     string
	size     int64
	studyUID string
	sopUID   string
}

// scanResult sorts the files found under a directory.
type scanResult struct {
	files      []*file
	skipped    []Failure // not DICOM Part 10
	unreadable []Failure // Part 10 but its identifiers could not be read
}

// scan walks root in lexical order and reads the identifiers of each DICOM
// file.
func scan(ctx context.Context, root string) (scanResult, error) {
	var res scanResult
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ok, err := isPart10(path)
		if err != nil {
			return err
		}
		if !ok {
			res.skipped = append(res.skipped, Failure{Path: path, Reason: reasonNotDICOM})
			return nil
		}
		f, err := readHeader(path)
		if err != nil {
			res.unreadable = append(res.unreadable, Failure{Path: path, Reason: err.Error()})
			return nil
		}
		res.files = append(res.files, f)
		return nil
	})
	return res, err
}

// isPart10 reports whether the file has a 128-byte preamble followed by
// "DICM".
func isPart10(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var head [132]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return bytes.Equal(head[128:], []byte("DICM")), nil
}

// readHeader reads the SOP Instance and Study Instance UIDs with the
// gateway's own parser (the one STOW uses), never loading the pixel data,
// so a file the gateway would refuse is reported here with the same reason
// and is not sent.
func readHeader(path string) (*file, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	h, err := dcm.ReadHeader(fh, fi.Size(), dcm.Limits{})
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if h.SOPUID == "" || h.StudyUID == "" {
		return nil, errors.New("read header: no SOPInstanceUID or StudyInstanceUID")
	}
	return &file{path: path, size: fi.Size(), studyUID: h.StudyUID, sopUID: h.SOPUID}, nil
}

// batch is the files of one request: all of the same study.
type batch struct {
	study string
	files []*file
	bytes int64
}

// makeBatches groups files by study, in order of first appearance, and
// splits each study into batches of at most max bytes (a larger file goes
// alone).
func makeBatches(files []*file, max int64) []*batch {
	var order []string
	byStudy := map[string][]*file{}
	for _, f := range files {
		if _, ok := byStudy[f.studyUID]; !ok {
			order = append(order, f.studyUID)
		}
		byStudy[f.studyUID] = append(byStudy[f.studyUID], f)
	}
	var out []*batch
	for _, study := range order {
		var cur *batch
		for _, f := range byStudy[study] {
			if cur == nil || (len(cur.files) > 0 && cur.bytes+f.size > max) {
				cur = &batch{study: study}
				out = append(out, cur)
			}
			cur.files = append(cur.files, f)
			cur.bytes += f.size
		}
	}
	return out
}
