// Package corpustest gives tests corpora derived from the real files of
// github.com/suyashkumar/dicom, generated once per test binary: generation
// takes seconds and many tests read the same files.
package corpustest

import (
	"os"
	"sync"
	"testing"

	"github.com/imgcloud/gateway/internal/corpus"
)

var (
	mu      sync.Mutex
	corpora = map[corpus.Options]*corpus.Manifest{}
)

// Shared returns the corpus of opt, generating it into a temporary folder
// the first time. Main removes the folders when the tests are done.
func Shared(t testing.TB, opt corpus.Options) *corpus.Manifest {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if man := corpora[opt]; man != nil {
		return man
	}
	dir, err := os.MkdirTemp("", "gw-corpus-*")
	if err != nil {
		t.Fatalf("generate corpus: %v", err)
	}
	man, err := corpus.Generate(dir, opt)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("generate corpus: %v", err)
	}
	corpora[opt] = man
	return man
}

// Main runs the tests, removes the shared corpora and exits: call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes the shared corpora: for a TestMain that runs the tests
// itself (one that also uses another helper's files).
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	for _, man := range corpora {
		os.RemoveAll(man.Dir)
	}
}
