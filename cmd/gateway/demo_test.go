package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// noGoEnv is an environment in which neither the go command nor a module
// cache can be found: what a deployed binary sees.
func noGoEnv(t *testing.T) []string {
	dir := t.TempDir()
	return []string{"PATH=" + filepath.Join(dir, "bin"), "HOME=" + dir, "GOMODCACHE=" + filepath.Join(dir, "mod"), "GOPATH=" + filepath.Join(dir, "go")}
}

// startNoGo runs "gateway serve --no-auth" with noGoEnv and extra flags.
func startNoGo(t *testing.T, extra ...string) *proc {
	t.Helper()
	return startServe(t, noGoEnv(t), append([]string{"--no-auth", "--data", t.TempDir()}, extra...)...)
}

// demoStudies lists the studies of a gateway as "PatientID AccessionNumber
// ModalitiesInStudy", sorted.
func demoStudies(t *testing.T, base string) []string {
	t.Helper()
	resp, body := gwtest.Do(t, "GET", base+"/studies?includefield=00080061", map[string]string{"Accept": "application/dicom+json"}, nil)
	var rows []map[string]struct{ Value []any }
	if resp.StatusCode != 200 || json.Unmarshal(body, &rows) != nil {
		t.Fatalf("studies: %d %s", resp.StatusCode, body)
	}
	var out []string
	for _, r := range rows {
		var mods []string
		for _, m := range r["00080061"].Value {
			mods = append(mods, m.(string))
		}
		out = append(out, strings.Join([]string{r["00100020"].Value[0].(string), r["00080050"].Value[0].(string), strings.Join(mods, "/")}, " "))
	}
	slices.Sort(out)
	return out
}

// TestDemoWithoutGo loads the demo in a gateway that finds no go command
// and no module cache, pushes it with "gateway demo" to another such
// gateway, and checks both hold the same eight studies of every modality.
func TestDemoWithoutGo(t *testing.T) {
	loaded := startNoGo(t, "--demo")
	want := demoStudies(t, loaded.base)
	if len(want) != 8 {
		t.Fatalf("serve --demo loaded %d studies, want 8: %v\n%s", len(want), want, loaded.log)
	}
	mods := strings.Join(want, " ")
	for _, m := range []string{"CT", "MR", "PT", "CR", "OT"} {
		if !strings.Contains(mods, m) {
			t.Errorf("no %s study in the demo: %v", m, want)
		}
	}

	empty := startNoGo(t)
	cmd := exec.Command(gatewayBinary(t), "demo", "--url", empty.base)
	cmd.Env = noGoEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gateway demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "32 stored") {
		t.Errorf("gateway demo summary: %s", out)
	}
	if got := demoStudies(t, empty.base); !slices.Equal(got, want) {
		t.Errorf("pushed demo:\n%v\nwant the loaded one:\n%v", got, want)
	}
}
