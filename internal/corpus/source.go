package corpus

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// sourceModule is the module whose testdata holds the source DICOM files.
const sourceModule = "github.com/suyashkumar/dicom@v1.1.0"

// SourceDir returns the testdata directory of github.com/suyashkumar/dicom
// v1.1.0 in the Go module cache. It looks in $GOMODCACHE, then in what
// `go env GOMODCACHE` reports, then in $GOPATH/pkg/mod and ~/go/pkg/mod.
func SourceDir() (string, error) {
	var caches []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		caches = append(caches, c)
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			caches = append(caches, c)
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		caches = append(caches, filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		caches = append(caches, filepath.Join(home, "go", "pkg", "mod"))
	}
	for _, c := range caches {
		dir := filepath.Join(c, filepath.FromSlash(sourceModule), "testdata")
		if _, err := os.Stat(filepath.Join(dir, "1.dcm")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("source dir: %s/testdata not found in module caches %v (run `go mod download %s`)",
		sourceModule, caches, sourceModule)
}

// source is a parsed source file and the facts the manifest needs.
type source struct {
	name            string
	elems           []*dicom.Element
	transferSyntax  string // as written
	sopClass        string
	modality        string
	rows, cols      int
	bitsAllocated   int
	samplesPerPixel int
	frames          int
}

// loadSource parses dir/name keeping the PixelData value bytes unprocessed,
// so they are written back byte for byte.
func loadSource(dir, name string) (*source, error) {
	path := filepath.Join(dir, name)
	ds, err := dicom.ParseFile(path, nil, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		return nil, fmt.Errorf("load source %s: %w", path, err)
	}
	s := &source{name: name, elems: ds.Elements, frames: 1}
	ts, err := stringValue(ds, tag.TransferSyntaxUID)
	if err != nil {
		return nil, fmt.Errorf("load source %s: %w", path, err)
	}
	s.transferSyntax = outputTransferSyntax(ts)
	if s.sopClass, err = stringValue(ds, tag.SOPClassUID); err != nil {
		return nil, fmt.Errorf("load source %s: %w", path, err)
	}
	if s.modality, err = stringValue(ds, tag.Modality); err != nil {
		return nil, fmt.Errorf("load source %s: %w", path, err)
	}
	for _, f := range []struct {
		t   tag.Tag
		dst *int
	}{{tag.Rows, &s.rows}, {tag.Columns, &s.cols}, {tag.BitsAllocated, &s.bitsAllocated}, {tag.SamplesPerPixel, &s.samplesPerPixel}} {
		if *f.dst, err = intValue(ds, f.t); err != nil {
			return nil, fmt.Errorf("load source %s: %w", path, err)
		}
	}
	if v, err := stringValue(ds, tag.NumberOfFrames); err == nil {
		if s.frames, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
			return nil, fmt.Errorf("load source %s: NumberOfFrames %q: %w", path, v, err)
		}
	}
	return s, nil
}

// stringValue returns the first string value of a top-level attribute.
func stringValue(ds dicom.Dataset, t tag.Tag) (string, error) {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return "", fmt.Errorf("attribute %v: %w", t, err)
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok || len(v) == 0 {
		return "", fmt.Errorf("attribute %v: %w", t, errors.New("no string value"))
	}
	return v[0], nil
}

// intValue returns the first integer value of a top-level attribute.
func intValue(ds dicom.Dataset, t tag.Tag) (int, error) {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return 0, fmt.Errorf("attribute %v: %w", t, err)
	}
	v, ok := e.Value.GetValue().([]int)
	if !ok || len(v) == 0 {
		return 0, fmt.Errorf("attribute %v: %w", t, errors.New("no integer value"))
	}
	return v[0], nil
}
