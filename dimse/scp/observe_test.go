package scp_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// studyLog records the studies the archive's observers are told of, with
// who stored them.
type studyLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *studyLog) StudyStored(ctx context.Context, study string) {
	p, _ := auth.FromContext(ctx)
	l.mu.Lock()
	l.calls = append(l.calls, study+" by "+p.User)
	l.mu.Unlock()
}

func (l *studyLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// TestObserversPerStudy: recognition hears of a study's first instance
// before its C-STORE is answered (the study is its institution's at
// once) and of the rest once no instance of the study arrived for a
// moment, as the storing AE, not once per instance.
func TestObserversPerStudy(t *testing.T) {
	dir := t.TempDir()
	store, db := gwtest.StoreAndIndex(t, dir)
	al, err := audit.Open(db, store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close(context.Background()) })
	obs := &studyLog{}
	svc := archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}, Observers: []archive.Observer{obs}})
	aes, _ := access.NewAEs([]access.AE{{AET: "PACS", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}}})
	s, err := scp.New(scp.Options{AEs: aes, Archive: svc, Audit: al, Registerer: prometheus.NewRegistry(), Server: dimse.Options{SpoolDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(context.Background(), ln)
	t.Cleanup(func() { s.Close(context.Background()); ln.Close() })
	c, err := dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: "PACS", CalledAE: "IMGCLOUD",
		Contexts: []dimse.PresentationContext{{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	store1 := func(study, sop string) {
		t.Helper()
		if st, cm, err := c.Store(sc, sop, gwtest.Minimal(study, study+".1", sop)); st != 0 || err != nil {
			t.Fatalf("store %s: %04X %s %v", sop, st, cm, err)
		}
	}
	store1("1.2.826.0.1.12.1", "1.2.826.0.1.12.1.1.1")
	if got := obs.get(); len(got) != 1 || got[0] != "1.2.826.0.1.12.1 by ae:PACS" {
		t.Fatalf("after the study's first instance: %v", got)
	}
	store1("1.2.826.0.1.12.1", "1.2.826.0.1.12.1.1.2")
	store1("1.2.826.0.1.12.1", "1.2.826.0.1.12.1.1.3")
	store1("1.2.826.0.1.12.1", "1.2.826.0.1.12.1.1.3") // a duplicate
	if got := obs.get(); len(got) != 1 {
		t.Errorf("told of every instance: %v", got)
	}
	store1("1.2.826.0.1.12.2", "1.2.826.0.1.12.2.1.1")
	store1("1.2.826.0.1.12.2", "1.2.826.0.1.12.2.1.2")
	c.Release()
	want := map[string]int{"1.2.826.0.1.12.1 by ae:PACS": 2, "1.2.826.0.1.12.2 by ae:PACS": 2}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := map[string]int{}
		for _, c := range obs.get() {
			got[c]++
		}
		if len(got) == len(want) && got["1.2.826.0.1.12.1 by ae:PACS"] == 2 && got["1.2.826.0.1.12.2 by ae:PACS"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observers told %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
