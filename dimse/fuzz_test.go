package dimse_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dimse"
)

// FuzzPDU feeds arbitrary bytes to a server after (and instead of) a valid
// A-ASSOCIATE-RQ: whatever arrives, the server answers or aborts within
// its timers and never panics or allocates what a length declares.
func FuzzPDU(f *testing.F) {
	rq := dimse.EncodeAssociateRQ(dimse.ClientOptions{CallingAE: "QASCU", CalledAE: "IMGCLOUD", Contexts: proposal, MaxLength: 16384})
	hdr := func(typ byte, body []byte) []byte {
		return append([]byte{typ, 0, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	assoc := hdr(dimse.PDUAssociateRQ, rq)
	cmd := dimse.EncodeCommand(storeCommand("1.2.3"))
	f.Add(assoc)
	f.Add(append(bytes.Clone(assoc), hdr(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: 3, Command: true, Last: true, Data: cmd}, dimse.PDV{Context: 3, Last: true, Data: []byte("xx")}))...))
	f.Add(append(bytes.Clone(assoc), 4, 0, 0xFF, 0xFF, 0xFF, 0xFF))
	f.Add([]byte{1, 0, 0, 0, 0, 10, 0, 1})
	h := &recorder{}
	srv, err := dimse.New(dimse.Options{Handler: h, Syntaxes: syntaxes, ARTIM: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() { srv.ServeConn(context.Background(), a); close(done) }()
		go func() {
			b.SetWriteDeadline(time.Now().Add(time.Second))
			b.Write(in)
		}()
		b.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := b.Read(buf); err != nil {
				break
			}
		}
		b.Close()
		<-done
	})
}
