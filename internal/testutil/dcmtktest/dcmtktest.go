// Package dcmtktest runs DCMTK, the reference DICOM toolkit, in tests: it
// writes test files from text dumps with dump2dcm (so that their bytes are
// what a third-party writer makes of them, not the project's own encoder)
// and reads them back with dcm2json, the reference for VRs and values.
//
// Install DCMTK with scripts/dcmtk.sh. Without it, tests skip with a loud
// message; with CI=true they fail.
package dcmtktest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tool returns the path of the DCMTK program name.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := "DCMTK's " + name + " is not installed (run scripts/dcmtk.sh): this reference test was SKIPPED"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Run runs a DCMTK program and returns its standard output.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(Tool(t, name), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return stdout.Bytes()
}

// Dump2DCM writes dump (dump2dcm's text format; values are copied as raw
// bytes, so text may be in any character set) to a Part 10 file in a
// temporary folder and returns its path. args are extra dump2dcm options;
// by default the file is explicit VR little endian.
func Dump2DCM(t testing.TB, dump []byte, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.dump"), filepath.Join(dir, "out.dcm")
	if err := os.WriteFile(in, dump, 0o600); err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		args = []string{"+te"}
	}
	Run(t, "dump2dcm", append(append([]string{"-q"}, args...), in, out)...)
	return out
}

// JSON returns dcm2json's reading of the file at path, after running
// dcmodify with the given options on a copy when there are any (for
// example "-i", "(0008,0005)=GB18030" to label text as its bytes are).
// InlineBinary values are kept.
func JSON(t testing.TB, path string, modify ...string) map[string]any {
	t.Helper()
	if len(modify) > 0 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(t.TempDir(), "modified.dcm")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		Run(t, "dcmodify", append(append([]string{"-q", "-nb"}, modify...), path)...)
	}
	var out map[string]any
	if err := json.Unmarshal(Run(t, "dcm2json", path), &out); err != nil {
		t.Fatalf("dcm2json %s: %v", path, err)
	}
	return out
}

// Convert runs dcmconv with options (such as "+uc", convert UN elements
// to their real VR) on the file at path and returns the new file's path.
func Convert(t testing.TB, path string, opts ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "converted.dcm")
	Run(t, "dcmconv", append(append([]string{"-q"}, opts...), path, out)...)
	return out
}
