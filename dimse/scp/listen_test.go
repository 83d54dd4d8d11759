package scp_test

import (
	"context"
	"net"
	"testing"
	"time"
)

// server is what the tests serve on loopback: the gateway's service or a
// bare dimse.Server standing for a peer.
type server interface {
	Serve(ctx context.Context, ln net.Listener) error
	Close(ctx context.Context) error
}

// serveLoopback serves s on a free loopback port until the test ends and
// returns the listener.
func serveLoopback(t testing.TB, s server) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
		ln.Close()
	})
	return ln
}
