package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestAuditVerifyAfterTampering replays finding 9 of issue 14 on real
// gateway data: a gateway records a trail and stops (writing its
// checkpoint); someone without the key file edits the index with the
// index package (the audit events are records "audit/{seq}", the head
// "audit-meta/head"); the restarted gateway's "audit verify" reports it.
func TestAuditVerifyAfterTampering(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	base := t.TempDir()
	p := startGatewayArgs(t, base, "--admin-token", admin)
	for i := 0; i < 20; i++ {
		if resp, _ := gwtest.Do(t, "GET", p.base+"/studies", map[string]string{"Authorization": "Bearer " + admin}, nil); resp.StatusCode != 200 {
			t.Fatalf("studies: %d", resp.StatusCode)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.log.String())
	}

	type ev = map[string]any
	get := func(db *index.DB, seq int) ev {
		b, err := db.GetRecord("audit", seqName(seq))
		if err != nil {
			t.Fatal(err)
		}
		var e ev
		json.Unmarshal(b, &e)
		return e
	}
	put := func(db *index.DB, seq int, e ev) {
		b, _ := json.Marshal(e)
		db.PutRecord("audit", seqName(seq), b)
	}
	setHead := func(db *index.DB, seq int, hash any) {
		b, _ := json.Marshal(ev{"seq": seq, "hash": hash})
		db.PutRecord("audit-meta", "head", b)
	}
	last := func(db *index.DB) int {
		id, _, err := db.LastRecord("audit")
		if err != nil || id == "" {
			t.Fatalf("last event: %q %v", id, err)
		}
		n, _ := strconv.Atoi(id)
		return n
	}
	// plain re-chains events as a SHA-256 chain, as the unkeyed gateway did.
	plain := func(db *index.DB, from, to int, prev any) {
		for seq := from; seq <= to; seq++ {
			e := get(db, seq)
			delete(e, "kid")
			e["prev"], e["hash"] = prev, ""
			b, _ := json.Marshal(e)
			sum := sha256.Sum256(b)
			e["hash"] = hex.EncodeToString(sum[:])
			put(db, seq, e)
			prev = e["hash"]
		}
		setHead(db, to, prev)
	}
	copyData := func(t *testing.T) string {
		data := t.TempDir()
		if out, err := exec.Command("cp", "-a", base+"/.", data).CombinedOutput(); err != nil {
			t.Fatalf("copy data: %v %s", err, out)
		}
		return data
	}
	verify := func(t *testing.T, p *proc) (string, error) {
		cmd := exec.Command(gatewayBinary(t), "audit", "verify")
		cmd.Env = append(os.Environ(), "GATEWAY_TOKEN="+admin, "GATEWAY_URL="+strings.TrimSuffix(p.base, "/dicomweb"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("intact after a key rotation", func(t *testing.T) {
		data := copyData(t)
		if out, err := exec.Command(gatewayBinary(t), "audit", "rotate-key", "--data", data).CombinedOutput(); err != nil {
			t.Fatalf("rotate-key: %v %s", err, out)
		}
		p := startGatewayArgs(t, data, "--admin-token", admin)
		gwtest.Do(t, "GET", p.base+"/studies", map[string]string{"Authorization": "Bearer " + admin}, nil)
		if out, err := verify(t, p); err != nil || !strings.Contains(out, `"ok":true`) {
			t.Fatalf("verify after rotation: %v %s", err, out)
		}
	})
	for _, c := range []struct {
		name   string
		tamper func(db *index.DB)
		want   string
	}{
		{"tail truncated and head moved back", func(db *index.DB) {
			n := last(db)
			for seq := 11; seq <= n; seq++ {
				db.DeleteRecord("audit", seqName(seq))
			}
			setHead(db, 10, get(db, 10)["hash"])
		}, "checkpoint"},
		{"chain rewritten", func(db *index.DB) {
			n := last(db)
			e := get(db, 3)
			e["outcome"] = 403
			put(db, 3, e)
			plain(db, 1, n, "")
		}, "has no MAC"},
		{"deleted in the middle and renumbered", func(db *index.DB) {
			n := last(db)
			for seq := 8; seq <= n; seq++ {
				e := get(db, seq)
				e["seq"] = seq - 1
				put(db, seq-1, e)
			}
			db.DeleteRecord("audit", seqName(n))
			plain(db, 7, n-1, get(db, 6)["hash"])
		}, "event 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := copyData(t)
			db, err := index.Open(index.Options{Dir: filepath.Join(data, "index")})
			if err != nil {
				t.Fatal(err)
			}
			c.tamper(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			p := startGatewayArgs(t, data, "--admin-token", admin)
			out, err := verify(t, p)
			if err == nil || !strings.Contains(out, `"ok":false`) || !strings.Contains(out, c.want) {
				t.Fatalf("audit verify after %s: %v\n%s\nwant a failure mentioning %q", c.name, err, out, c.want)
			}
			t.Logf("audit verify: %s", strings.SplitN(out, "\n", 2)[0])
		})
	}
}

func seqName(n int) string { return fmt.Sprintf("%016d", n) }
