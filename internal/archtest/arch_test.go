package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/imgcloud/gateway"

// pkg is what the tests need of `go list -json`.
type pkg struct {
	ImportPath string
	Imports    []string // non-test imports only
}

// rel is a package's path inside the module ("dicomweb", "httpapi/guard").
func (p pkg) rel() string { return strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/") }

// moduleRoot is the folder of go.mod above the test's working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// listPackages runs `go list -json ./...` at the module root.
func listPackages(t *testing.T, root string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	return pkgs
}

// Layers of ARCHITECTURE.md ("Import rules").
const (
	layerCmd      = "cmd"      // binaries: may import anything but test helpers
	layerHTTP     = "http"     // network adapters: dicomweb, httpapi/..., dimse/...
	layerDomain   = "domain"   // the rules of the system
	layerBase     = "base"     // storage, index, dcm, codec
	layerInternal = "internal" // utilities usable by all
	layerTool     = "tool"     // what binaries do besides serving: push, the demo, corpora
	layerTestutil = "testutil" // test helpers: imported by tests only
	layerAssets   = "assets"   // embedded files
)

// domain and base name the top-level packages of those layers; anything
// under storage/ is base too. tools are the internal/ packages that are
// work of the binaries rather than utilities.
var (
	tools  = []string{"internal/push", "internal/demo", "internal/corpus", "internal/phantom"}
	domain = []string{"access", "archive", "audit", "auth", "consent", "federation", "recognition", "records", "render", "share"}
	base   = []string{"codec", "dcm", "index", "storage"}
)

// layer places a package, or returns "" for one that ARCHITECTURE.md and
// this test do not place yet.
func layer(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case top == "cmd":
		return layerCmd
	case top == "dicomweb" || top == "httpapi" || top == "dimse":
		return layerHTTP
	case strings.HasPrefix(rel, "internal/testutil/"):
		return layerTestutil
	case slices.Contains(tools, rel):
		return layerTool
	case top == "internal":
		return layerInternal
	case top == "viewer-static":
		return layerAssets
	case slices.Contains(domain, top):
		return layerDomain
	case slices.Contains(base, top):
		return layerBase
	}
	return ""
}

// TestArchitectureNamesEveryPackage fails when a package of the module is
// not named (in backquotes) in ARCHITECTURE.md, or when the document names
// in its package map a package that does not exist.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := listPackages(t, root)
	have := map[string]bool{}
	for _, p := range pkgs {
		have[p.rel()] = true
		if !bytes.Contains(doc, []byte("`"+p.rel()+"`")) {
			t.Errorf("package %s is not named in ARCHITECTURE.md: add a line to its package map", p.rel())
		}
	}
	// Package map lines read "- `path`: its one job".
	for _, m := range regexp.MustCompile("(?m)^- `([a-z0-9/_-]+)`:").FindAllSubmatch(doc, -1) {
		if name := string(m[1]); !have[name] && !pending[name] {
			t.Errorf("ARCHITECTURE.md's package map names %s, which is no package of the module", name)
		}
	}
}

// pending are packages the package map names before they exist.
var pending = map[string]bool{}

// TestImportRules checks the arrows of ARCHITECTURE.md on every non-test
// import of the module (tests may import what they need).
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t, moduleRoot(t))
	used := map[[2]string]bool{}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			used[[2]string{p.rel(), imp}] = true
		}
	}
	for k := range allowed {
		if !used[k] {
			t.Errorf("allowed lists %s importing %s, which it no longer does: drop the entry", k[0], k[1])
		}
	}
	for _, p := range pkgs {
		from := p.rel()
		lf := layer(from)
		if lf == "" {
			t.Errorf("package %s has no layer: place it in ARCHITECTURE.md and in layer() here", from)
			continue
		}
		for _, imp := range p.Imports {
			if reason := forbidden(from, lf, imp); reason != "" {
				t.Errorf("%s imports %s: %s", from, imp, reason)
			}
		}
	}
}

// allowed are imports that break a rule and wait for the lead's decision;
// each says why it is there.
var allowed = map[[2]string]string{}

// forbidden says which rule the import imp of package from (in layer lf)
// breaks, or "" when it breaks none.
func forbidden(from, lf, imp string) string {
	if _, ok := allowed[[2]string{from, imp}]; ok {
		return ""
	}
	if strings.HasPrefix(imp, module+"/") {
		to := strings.TrimPrefix(imp, module+"/")
		lt := layer(to)
		switch {
		case lt == layerTestutil && lf != layerTestutil:
			return "internal/testutil is for tests only (import it from _test.go files)"
		case lt == layerHTTP && lf != layerHTTP && lf != layerCmd && lf != layerTestutil:
			return "only cmd/ and other HTTP adapters may import an HTTP adapter"
		case lt == layerCmd:
			return "nothing imports a binary"
		case lf == layerHTTP && lt == layerBase && !strings.HasPrefix(to, "dcm"):
			return "HTTP adapters reach storage and the index through the domain (archive, records), never directly"
		case lf == layerDomain && lt == layerHTTP:
			return "a domain package never imports an HTTP package"
		case lf == layerBase && (lt == layerDomain || lt == layerHTTP):
			return "storage, index and dcm import no domain or HTTP package"
		case lf == layerInternal && (lt == layerDomain || lt == layerHTTP || lt == layerBase || lt == layerTool):
			return "internal/ utilities import only other utilities, so that every layer may use them"
		case lf == layerTool && (lt == layerDomain || lt == layerHTTP):
			return "tools (push, demo, corpora) read and write DICOM with dcm and speak HTTP as clients; they use no server part"
		case lt == layerTool && lf != layerCmd && lf != layerTool && lf != layerTestutil:
			return "tools are the binaries' work: only cmd/ (and tests) use them"
		case lf == layerAssets:
			return "viewer-static holds embedded files only"
		}
		return ""
	}
	switch {
	case strings.HasPrefix(imp, "github.com/labstack/echo") && (lf == layerDomain || lf == layerBase):
		return "domain, storage, index and dcm packages know nothing of HTTP routing (no echo)"
	case strings.HasPrefix(imp, "github.com/dgraph-io/badger") && from != "index":
		return "Badger is imported by index alone"
	case strings.HasPrefix(imp, "github.com/minio/minio-go") && from != "storage/s3":
		return "minio-go is imported by storage/s3 alone"
	case strings.HasPrefix(imp, "github.com/jackc/") && from != "index/postgres":
		return "pgx is imported by index/postgres alone"
	case imp == "github.com/suyashkumar/dicom" && !slices.Contains(devTools, from):
		return "suyashkumar's DICOM reader is for development tools only; the gateway reads DICOM with dcm (which takes only the tag dictionary)"
	}
	return ""
}

// devTools may read DICOM with suyashkumar's full reader: they generate and
// check test data, and are not the gateway.
var devTools = []string{"cmd/gwbench", "internal/corpus"}

// TestRulesCatchViolations shows each rule refusing an import that breaks
// it, so that a rule that stopped matching anything would be noticed.
func TestRulesCatchViolations(t *testing.T) {
	for _, c := range []struct{ from, imp string }{
		{"recognition", module + "/httpapi/recognitionapi"},
		{"archive", module + "/dicomweb"},
		{"share", "github.com/labstack/echo/v4"},
		{"index", "github.com/labstack/echo/v4"},
		{"dicomweb", module + "/internal/testutil/gwtest"},
		{"httpapi/shareapi", module + "/storage"},
		{"httpapi/shareapi", module + "/index"},
		{"index", module + "/records"},
		{"internal/mpart", module + "/dcm"},
		{"archive", "github.com/dgraph-io/badger/v4"},
		{"archive", "github.com/minio/minio-go/v7"},
		{"archive", "github.com/jackc/pgx/v5/pgxpool"},
		{"index", "github.com/jackc/pgx/v5"},
		{"dcm", "github.com/suyashkumar/dicom"},
		{"access", module + "/httpapi/guard"},
	} {
		if forbidden(c.from, layer(c.from), c.imp) == "" {
			t.Errorf("%s importing %s passes the rules; it must not", c.from, c.imp)
		}
	}
	for _, c := range []struct{ from, imp string }{
		{"cmd/gateway", module + "/httpapi/server"},
		{"httpapi/server", module + "/dicomweb"},
		{"internal/testutil/gwtest", module + "/httpapi/server"},
		{"dicomweb", module + "/archive"},
		{"dicomweb", module + "/dcm"},
		{"consent", module + "/index"},
		{"index/postgres", "github.com/jackc/pgx/v5/pgxpool"},
		{"index/postgres", module + "/index"},
		{"dcm", "github.com/suyashkumar/dicom/pkg/tag"},
		{"httpapi/guard", "github.com/labstack/echo/v4"},
	} {
		if r := forbidden(c.from, layer(c.from), c.imp); r != "" {
			t.Errorf("%s importing %s is refused (%s); the rules allow it", c.from, c.imp, r)
		}
	}
}
