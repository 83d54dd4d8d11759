// Package npmtest gives tests the third-party DICOMweb clients published on
// npm (OHIF Viewer v3 and v2, dicomweb-client, dcmjs), installed by
// scripts/npm-clients.sh with "npm ci" from this folder's package-lock.json
// into the user's cache, and runs Node.js scripts against them.
package npmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	once    sync.Once
	modules string
	errMsg  string
)

// Modules returns the node_modules folder of the pinned clients
// ($IMGCLOUD_NPM_CLIENTS, or what scripts/npm-clients.sh installs or finds
// in its cache). Without npm the test skips, loudly; with CI=true it fails.
func Modules(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if m := os.Getenv("IMGCLOUD_NPM_CLIENTS"); m != "" {
			modules = m
			return
		}
		if _, err := exec.LookPath("npm"); err != nil {
			errMsg = "npm not found (install Node.js 20 or later, then scripts/npm-clients.sh): real-client tests NOT RUN"
			return
		}
		_, self, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(self), "..", "..", "..")
		cmd := exec.Command(filepath.Join(root, "scripts", "npm-clients.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			errMsg = "scripts/npm-clients.sh: " + err.Error()
			return
		}
		modules = strings.TrimSpace(string(out))
	})
	if modules == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(errMsg)
		}
		t.Log("SKIPPING: " + errMsg)
		t.Skip(errMsg)
	}
	return modules
}

// Package returns the folder of an installed package, e.g. "@ohif/app".
func Package(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(Modules(t), filepath.FromSlash(name))
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Fatalf("npm package %s: %v", name, err)
	}
	return dir
}

// Node runs a CommonJS script with node, the pinned clients on its
// require path and env added to the environment, and returns its combined
// output; a failing script fails the test with that output.
func Node(t testing.TB, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("node", script)
	cmd.Env = append(append(os.Environ(), "NODE_PATH="+Modules(t)), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", filepath.Base(script), err, out)
	}
	return string(out)
}
