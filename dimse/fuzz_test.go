package dimse_test

import (
	"bytes"
	"context"
	"fmt"
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

// FuzzStoreStream sends a C-STORE data set in fragments of the sizes cuts
// says and ends it as end says: marked last, or (no fragment marked last)
// a TCP close or an A-ABORT. The handler reads the data set as it
// arrives; it must get every byte and a clean end exactly when the last
// fragment was marked, and an error otherwise.
func FuzzStoreStream(f *testing.F) {
	f.Add([]byte("DICM data set bytes"), []byte{0, 1, 2, 3}, byte(0))
	f.Add([]byte("DICM data set bytes"), []byte{5}, byte(1))
	f.Add([]byte("DICM data set bytes"), []byte{}, byte(2))
	f.Add(bytes.Repeat([]byte{7}, 300), []byte{63, 63, 0}, byte(1))
	addr, h := start(f, dimse.Options{IdleTimeout: 2 * time.Second})
	n := 0
	f.Fuzz(func(t *testing.T, data, cuts []byte, end byte) {
		if len(data) == 0 || len(data) > 4096 {
			return
		}
		n++
		sop := fmt.Sprintf("1.2.826.0.1.77.%d", n)
		c := dial(t, addr, "FUZZ")
		defer c.Close()
		if err := c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: 3, Command: true, Last: true, Data: dimse.EncodeCommand(storeCommand(sop))})); err != nil {
			t.Fatal(err)
		}
		mode := end % 3
		for off, i := 0, 0; off < len(data); i++ {
			size := 1 + len(data)
			if len(cuts) > 0 {
				size = int(cuts[i%len(cuts)])%64 + 1
			}
			next := min(len(data), off+size)
			if err := c.WritePDU(dimse.PDUPData, dimse.EncodePData(dimse.PDV{Context: 3, Last: mode == 0 && next == len(data), Data: data[off:next]})); err != nil {
				t.Fatal(err)
			}
			off = next
		}
		h.mu.Lock()
		closed := len(h.closed)
		h.mu.Unlock()
		switch mode {
		case 0:
			rsp, err := c.ReadCommand()
			if st, _ := rsp.U16(dimse.TagStatus); err != nil || st != 0 {
				t.Fatalf("whole data set: status %04X, %v", st, err)
			}
			h.mu.Lock()
			got := h.stored[sop]
			h.mu.Unlock()
			if !bytes.Equal(got, data) {
				t.Fatalf("handler read %d bytes, %d sent", len(got), len(data))
			}
			c.Release()
			return
		case 1:
			c.Close()
		case 2:
			c.Abort()
		}
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			h.mu.Lock()
			ended, stored := len(h.closed) > closed, h.stored[sop] != nil
			h.mu.Unlock()
			if stored {
				t.Fatalf("data set ended by %s without its last fragment was read as whole", map[byte]string{1: "a TCP close", 2: "an A-ABORT"}[mode])
			}
			if ended {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("association not ended 3 s after the peer left")
			}
		}
	})
}
