// Package miniotest runs a real MinIO server for tests: on a free loopback
// port, with random credentials and a temporary data directory, and with
// Stop, Kill and Restart to simulate outages.
//
// The binary comes from Binary (scripts/minio.sh builds it). Use Start in a
// test, or StartMain in TestMain to share one server across a package.
package miniotest

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Server is a running (or stopped) MinIO server. Its methods are safe for
// concurrent use, so a test may stop it while another goroutine uses it.
type Server struct {
	// Endpoint is the S3 address, "127.0.0.1:PORT", without a scheme.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string

	bin     string
	dir     string // data directory
	logPath string // the server's output, appended across restarts
	console string // console address

	mu   sync.Mutex
	proc *process // nil when stopped
}

// Start starts a server for t and registers its cleanup. When the binary is
// missing it skips t (loudly), or fails it when CI=true. If t fails, the
// tail of the server's log is logged.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(t.TempDir())
	if err != nil {
		SkipOrFatal(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("MinIO log tail (%s):\n%s", s.logPath, s.LogTail(40))
		}
		if err := s.Kill(); err != nil {
			t.Errorf("kill MinIO: %v", err)
		}
	})
	return s
}

// StartMain starts a server outside any test, for TestMain. The returned
// function kills it and removes its files. The error wraps ErrNoBinary when
// the binary is missing; pass it to SkipOrFatal in each test that needs the
// server.
func StartMain() (*Server, func(), error) {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		return nil, nil, fmt.Errorf("start MinIO: %w", err)
	}
	s, err := start(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() {
		s.Kill()
		os.RemoveAll(dir)
	}, nil
}

// start starts a server keeping its files in dir.
func start(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{
		AccessKey: "test" + randomHex(8),
		SecretKey: randomHex(20),
		bin:       bin,
		dir:       filepath.Join(dir, "data"),
		logPath:   filepath.Join(dir, "minio.log"),
	}
	// Another process may take a picked port before MinIO binds it.
	for attempt := 0; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, fmt.Errorf("start MinIO: %w", err)
		}
		s.Endpoint, s.console = ports[0], ports[1]
		err = s.Restart()
		if err == nil {
			return s, nil
		}
		if attempt == 2 || !strings.Contains(s.LogTail(20), "address already in use") {
			return nil, err
		}
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// LogTail returns the last lines of the server's output.
func (s *Server) LogTail(lines int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
