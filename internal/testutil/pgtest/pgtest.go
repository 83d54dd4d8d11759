// Package pgtest runs a real PostgreSQL server for tests: Debian's
// binaries (scripts/postgres.sh installs them), a temporary data folder,
// a free loopback port, a random password, and one database per test.
//
// Share one server across a test binary with StartMain in TestMain, or
// start one per test with Start (process tests that restart it). Where
// the binaries are missing, tests skip with a loud message, or fail when
// CI=true.
package pgtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ErrNoBinary is returned (wrapped) when PostgreSQL is not installed.
var ErrNoBinary = errors.New("PostgreSQL server binaries not found")

// BinEnv names the environment variable that may hold the folder of
// PostgreSQL's server binaries (initdb, postgres, createdb).
const BinEnv = "IMGCLOUD_PG_BIN"

// superuser is the role initdb creates; tests connect as it.
const superuser = "pgtest"

// Timeouts of the server's life cycle.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// BinDir returns the folder of PostgreSQL's server binaries: $IMGCLOUD_PG_BIN,
// else the newest /usr/lib/postgresql/N/bin (Debian's layout). The error
// wraps ErrNoBinary when none has initdb.
func BinDir() (string, error) {
	dirs := []string{os.Getenv(BinEnv)}
	if dirs[0] == "" {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
		dirs = found
	}
	for _, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, "initdb")); err == nil && fi.Mode()&0o111 != 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("find initdb (%s or /usr/lib/postgresql/*/bin): %w", BinEnv, ErrNoBinary)
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// InCI reports whether the tests run in CI (CI=true), where a missing
// PostgreSQL fails the tests instead of skipping them.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFatal ends the test because a server could not be started: it
// skips loudly when PostgreSQL is missing outside CI, and fails otherwise.
func SkipOrFatal(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoBinary) && !InCI() {
		t.Skipf("\n"+
			"**************************************************************************\n"+
			"*** PostgreSQL tests SKIPPED: run scripts/postgres.sh (or scripts/test.sh)\n"+
			"*** (%v)\n"+
			"**************************************************************************", err)
	}
	if errors.Is(err, ErrNoBinary) {
		t.Fatalf("%v\nCI=true, so PostgreSQL tests must run: run scripts/postgres.sh first or set %s", err, BinEnv)
	}
	t.Fatalf("start PostgreSQL: %v", err)
}

// Server is a private PostgreSQL server. Its methods are safe for
// concurrent use.
type Server struct {
	// Port is the loopback TCP port it listens on.
	Port int
	// Password is the superuser's password (role "pgtest").
	Password string

	bin  string
	root string // data folder, socket and log; owned by the server's user
	cred *syscall.Credential
	dbs  atomic.Int64

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{}
}

// Start starts a server for t and stops it when t ends. It skips or fails
// t as SkipOrFatal says when PostgreSQL is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		SkipOrFatal(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("PostgreSQL log tail:\n%s", s.LogTail(30))
		}
		if err := s.close(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

// StartMain starts a server outside any test, for TestMain; the returned
// function stops it and removes its files. Pass a non-nil error to
// SkipOrFatal in each test that needs the server.
func StartMain() (*Server, func(), error) {
	s, err := start()
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.close() }, nil
}

func start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	// Not under t.TempDir: its parents are mode 0700 and owned by root,
	// which the server's own user could not traverse.
	root, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s := &Server{Password: randomHex(16), bin: bin, root: root}
	if err := s.initdb(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	var lastErr error
	for range 5 { // a free port may be taken before the server binds it
		if s.Port, err = freePort(); err != nil {
			return nil, fmt.Errorf("start PostgreSQL: %w", err)
		}
		if lastErr = s.Restart(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(root)
	return nil, lastErr
}

// initdb makes the cluster. PostgreSQL refuses to run as root, so when
// the tests run as root the server runs as the "postgres" user that
// Debian's package creates, owning the folder.
func (s *Server) initdb() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("start PostgreSQL as root: a non-root user is needed: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.root, uid, gid); err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
	}
	pw := filepath.Join(s.root, "pwfile")
	if err := os.WriteFile(pw, []byte(s.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(pw, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
	}
	// The C locale makes text order byte order, as in Badger (the index
	// also says COLLATE "C" itself); scram on TCP so that URLs carry a
	// real password, trust on the private socket for createdb.
	cmd := exec.Command(filepath.Join(s.bin, "initdb"), "-D", s.dataDir(), "-U", superuser,
		"--pwfile", pw, "--auth-host=scram-sha-256", "--auth-local=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return os.Remove(pw)
}

func (s *Server) dataDir() string { return filepath.Join(s.root, "data") }
func (s *Server) logPath() string { return filepath.Join(s.root, "log") }

// Restart starts the server if it is stopped (stopping it first if it
// runs), on the same port, folder and password, and returns once it
// accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(); err != nil {
		return err
	}
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	defer log.Close()
	// The postmaster is this process's child (not daemonised by pg_ctl),
	// so that a test binary that dies takes its server with it
	// (Pdeathsig, SIGINT is the fast shutdown). fsync off: these are
	// throw-away clusters on a shared disk; a server restart loses
	// nothing without it, only a machine crash would.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.Port), "-k", s.root, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=32MB",
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if err := s.waitReady(done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("start PostgreSQL on port %d: %w\nlog tail:\n%s", s.Port, err, s.LogTail(20))
	}
	s.proc, s.done = cmd, done
	return nil
}

func (s *Server) waitReady(done chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			return errors.New("server exited")
		default:
		}
		// pg_isready answers 0 once connections are accepted.
		cmd := exec.Command(filepath.Join(s.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port))
		if cmd.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("not ready in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast: open transactions are rolled back,
// connections cut). Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.proc == nil {
		return nil
	}
	_ = s.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.proc.Process.Kill()
		<-s.done
	}
	s.proc, s.done = nil, nil
	return nil
}

func (s *Server) close() error {
	err := s.Stop()
	if rerr := os.RemoveAll(s.root); err == nil {
		err = rerr
	}
	return err
}

// URL returns the connection URL of database name as the superuser,
// with its password.
func (s *Server) URL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(superuser, s.Password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Database creates an empty database of its own for t and returns its
// URL. The server drops nothing: its folder goes when it stops.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	name, err := s.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return s.URL(name)
}

// CreateDatabase creates a new empty database and returns its name.
func (s *Server) CreateDatabase() (string, error) {
	name := fmt.Sprintf("t%d_%s", s.dbs.Add(1), randomHex(4))
	cmd := exec.Command(filepath.Join(s.bin, "createdb"), "-h", s.root, "-p", strconv.Itoa(s.Port), "-U", superuser, name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("createdb %s: %w\n%s", name, err, out)
	}
	return name, nil
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
