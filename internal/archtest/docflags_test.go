package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// flagDecl finds where the commands declare a flag: through the helpers of
// cmd/gateway/settings.go (str, boolean, ...) or the flag package itself.
var flagDecl = []*regexp.Regexp{
	regexp.MustCompile(`(?:str|secretStr|boolean|int64v|duration|float|intv)\(\s*\w+,\s*&[\w.\[\]]+,\s*"([a-z0-9-]+)"`),
	regexp.MustCompile(`\.(?:String|Bool|Int|Int64|Float64|Duration|Uint)(?:Var)?\(\s*(?:&[\w.\[\]]+,\s*)?"([a-z0-9-]+)"`),
	regexp.MustCompile(`\.Var\(\s*[^,]+,\s*"([a-z0-9-]+)"`),
}

// docFlag is a flag as the docs write it: --name, or --prefix- for a family
// ("the --jwt-* settings").
var docFlag = regexp.MustCompile(`(?:^|[^\w-])--([a-z][a-z0-9-]*)`)

// docEnv is an environment variable as the docs write it; GATEWAY_X
// stands for any.
var docEnv = regexp.MustCompile(`\bGATEWAY_[A-Z0-9_]*[A-Z0-9]\b`)

// testEnv are variables that tests read, not the gateway.
var testEnv = map[string]bool{"GATEWAY_CRASH_CYCLES": true, "GATEWAY_X": true}

// TestDocsNameRealFlags fails when README.md, ARCHITECTURE.md or a page of
// docs/ names a command-line flag, or a GATEWAY_* variable, that no command
// declares (a renamed or removed flag), so the docs cannot drift from the
// binary.
func TestDocsNameRealFlags(t *testing.T) {
	root := moduleRoot(t)
	declared := map[string]bool{}
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, re := range flagDecl {
				for _, m := range re.FindAllSubmatch(b, -1) {
					declared[string(m[1])] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, must := range []string{"listen", "data", "store", "fresh", "deep", "config"} {
		if !declared[must] {
			t.Fatalf("flag %q not found in the sources: the declaration patterns no longer match", must)
		}
	}
	names := make([]string, 0, len(declared))
	for n := range declared {
		names = append(names, n)
	}
	sort.Strings(names)

	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "ARCHITECTURE.md"))
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range docFlag.FindAllStringSubmatch(line, -1) {
				name := m[1]
				if declared[name] {
					continue
				}
				if strings.HasSuffix(name, "-") && hasPrefix(names, name) {
					continue
				}
				t.Errorf("%s:%d: --%s is no flag of any command", filepath.Base(doc), i+1, name)
			}
			for _, v := range docEnv.FindAllString(line, -1) {
				flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(v, "GATEWAY_")), "_", "-")
				if !declared[flag] && !testEnv[v] {
					t.Errorf("%s:%d: %s is the variable of no flag", filepath.Base(doc), i+1, v)
				}
			}
		}
	}
}

func hasPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
