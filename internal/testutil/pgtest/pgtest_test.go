package pgtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// psql runs one statement through the server's TCP port with the URL's
// password, as a client would.
func psql(t *testing.T, s *Server, dbURL, sql string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(s.bin, "psql"), "-X", "-q", "-t", "-A", "-d", dbURL, "-c", sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestServerDatabasesAndRestart(t *testing.T) {
	s := Start(t)
	a, b := s.Database(t), s.Database(t)
	if a == b {
		t.Fatalf("two tests got one database %s", a)
	}
	if out, err := psql(t, s, a, "CREATE TABLE x (v text); INSERT INTO x VALUES ('kept')"); err != nil {
		t.Fatalf("write: %v\n%s", err, out)
	}
	if out, err := psql(t, s, b, "SELECT count(*) FROM x"); err == nil {
		t.Fatalf("database b sees a's table: %s", out)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := psql(t, s, a, "SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	got, err := psql(t, s, a, "SELECT v FROM x")
	if err != nil || got != "kept" {
		t.Fatalf("after restart: %q, %v; want kept", got, err)
	}
	wrong := strings.Replace(a, s.Password, "wrong", 1)
	if out, err := psql(t, s, wrong, "SELECT 1"); err == nil {
		t.Fatalf("a wrong password was accepted: %s", out)
	}
}
