package scp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/audit"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/dimse/scp"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// timedArchive is a real archive that adds up the time spent in Store
// (spool, parse, object write, index row) and in Sync (the group
// commit's syncs).
type timedArchive struct {
	*archive.Service
	store, commit atomic.Int64
}

func (a *timedArchive) StoreExpect(ctx context.Context, r io.Reader, want archive.Expect) (*archive.Stored, error) {
	t := time.Now()
	defer func() { a.store.Add(int64(time.Since(t))) }()
	return a.Service.StoreExpect(ctx, r, want)
}

func (a *timedArchive) Sync(ctx context.Context) error {
	t := time.Now()
	defer func() { a.commit.Add(int64(time.Since(t))) }()
	return a.Service.Sync(ctx)
}

// BenchmarkCStore measures C-STORE of small instances over 1 and 4
// associations into a real archive (folder store, Badger, audit trail),
// each answered only once durable: instances per second, the round trip
// of one C-STORE, and the part of it spent in archive.Store and in the
// group commit's syncs (BENCHMARKS.md, "DICOM C-STORE").
func BenchmarkCStore(b *testing.B) {
	for _, assocs := range []int{1, 4} {
		b.Run(fmt.Sprintf("assocs=%d", assocs), func(b *testing.B) {
			dir := b.TempDir()
			store, db := gwtest.StoreAndIndex(b, dir)
			al, err := audit.Open(db, store, audit.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer al.Close(context.Background())
			arc := &timedArchive{Service: archive.New(store, db, archive.Options{TempDir: dir, Visibility: archive.Unrestricted{}})}
			aes, _ := access.NewAEs([]access.AE{{AET: "PACS", Host: "127.0.0.1", Institution: "h1", Allow: []access.Operation{access.OpStore}}})
			s, err := scp.New(scp.Options{AEs: aes, Archive: arc, Audit: al, Registerer: prometheus.NewRegistry(), Server: dimse.Options{SpoolDir: dir}})
			if err != nil {
				b.Fatal(err)
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go s.Serve(context.Background(), ln)
			defer s.Close(context.Background())
			var rt atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for a := range assocs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := dimse.Dial(context.Background(), ln.Addr().String(), dimse.ClientOptions{CallingAE: "PACS", CalledAE: "IMGCLOUD",
						Contexts: []dimse.PresentationContext{{AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}}}})
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Release()
					for i := a; i < b.N; i += assocs {
						sop := fmt.Sprintf("1.2.826.0.1.11.%d", i)
						ds := gwtest.Minimal(fmt.Sprintf("1.2.826.0.1.11.%d", i/10), fmt.Sprintf("1.2.826.0.1.11.%d.1", i/10), sop)
						t0 := time.Now()
						if st, cm, err := c.Store(sc, sop, ds); st != 0 || err != nil {
							b.Errorf("store: %04X %s %v", st, cm, err)
							return
						}
						rt.Add(int64(time.Since(t0)))
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "inst/s")
			b.ReportMetric(float64(rt.Load())/float64(b.N)/1e6, "ms-roundtrip/op")
			b.ReportMetric(float64(arc.store.Load())/float64(b.N)/1e6, "ms-store/op")
			b.ReportMetric(float64(arc.commit.Load())/float64(b.N)/1e6, "ms-commit/op")
		})
	}
}
