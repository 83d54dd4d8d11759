package dimse_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dimse"
)

const findSOP = "1.2.840.10008.5.1.4.1.2.2.1"

// slowFind is a Handler whose C-FIND sends one match and then waits for
// its context to end: only a C-CANCEL (or the association's end) stops it.
type slowFind struct {
	recorder
	cause chan error
}

func (h *slowFind) Find(ctx context.Context, _ *dimse.Association, rq *dimse.FindRequest, match func([]byte) error) (uint16, string) {
	if err := match(rq.Identifier); err != nil {
		return 0xA700, err.Error()
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	h.cause <- context.Cause(ctx)
	if errors.Is(context.Cause(ctx), dimse.ErrCanceled) {
		return 0xFE00, ""
	}
	return 0, ""
}

func startSlowFind(t *testing.T) (string, *slowFind) {
	t.Helper()
	h := &slowFind{cause: make(chan error, 1)}
	srv, err := dimse.New(dimse.Options{Handler: h, Syntaxes: func(as string) []string {
		if as == findSOP || as == "1.2.840.10008.1.1" {
			return []string{explicitLE}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return ln.Addr().String(), h
}

func sendFind(t *testing.T, c *dimse.Client) byte {
	t.Helper()
	id, _, ok := c.Context(findSOP)
	if !ok {
		t.Fatal("C-FIND context not accepted")
	}
	cmd := dimse.Command{}
	cmd.SetString(dimse.TagAffectedSOPClassUID, findSOP)
	cmd.SetU16(dimse.TagCommandField, dimse.CFindRQ)
	cmd.SetU16(dimse.TagMessageID, 3)
	cmd.SetU16(dimse.TagPriority, 0)
	if err := c.SendMessage(id, cmd, []byte{0x08, 0x00, 0x52, 0x00, 'C', 'S', 6, 0, 'S', 'T', 'U', 'D', 'Y', ' '}); err != nil {
		t.Fatal(err)
	}
	if rsp, data, err := c.ReadMessage(); err != nil || len(data) == 0 {
		t.Fatalf("pending response: %v %v", rsp, err)
	} else if st, _ := rsp.U16(dimse.TagStatus); st != 0xFF00 {
		t.Fatalf("first response %04X, want pending", st)
	}
	return id
}

// TestFindCancel: a C-CANCEL-RQ read while the C-FIND runs cancels its
// context with ErrCanceled; the final response follows and the
// association goes on. An A-RELEASE-RQ during an operation aborts the
// association, and the operation's context ends with it.
func TestFindCancel(t *testing.T) {
	addr, h := startSlowFind(t)
	ctxs := []dimse.PresentationContext{
		{AbstractSyntax: findSOP, TransferSyntaxes: []string{explicitLE}},
		{AbstractSyntax: "1.2.840.10008.1.1", TransferSyntaxes: []string{explicitLE}},
	}
	c, err := dimse.Dial(context.Background(), addr, dimse.ClientOptions{CallingAE: "WS", CalledAE: "IMGCLOUD", Contexts: ctxs, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	id := sendFind(t, c)
	cancel := dimse.Command{}
	cancel.SetU16(dimse.TagCommandField, dimse.CCancelRQ)
	cancel.SetU16(dimse.TagMessageIDRespondedTo, 99) // another message: ignored
	if err := c.SendMessage(id, cancel, nil); err != nil {
		t.Fatal(err)
	}
	cancel.SetU16(dimse.TagMessageIDRespondedTo, 3)
	if err := c.SendMessage(id, cancel, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rsp, err := c.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := rsp.U16(dimse.TagStatus); st != 0xFE00 || time.Since(start) > 5*time.Second {
		t.Errorf("final status %04X after %s, want FE00 at once", st, time.Since(start))
	}
	if cause := <-h.cause; !errors.Is(cause, dimse.ErrCanceled) {
		t.Errorf("operation's context ended with %v, want ErrCanceled", cause)
	}
	if st, err := c.Echo(); st != 0 || err != nil {
		t.Errorf("echo after the canceled find: %04X %v", st, err)
	}
	if err := c.Release(); err != nil {
		t.Error(err)
	}

	c, err = dimse.Dial(context.Background(), addr, dimse.ClientOptions{CallingAE: "WS", CalledAE: "IMGCLOUD", Contexts: ctxs, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sendFind(t, c)
	if err := c.WritePDU(0x05, make([]byte, 4)); err != nil { // A-RELEASE-RQ
		t.Fatal(err)
	}
	expectAbort(t, c)
	if cause := <-h.cause; cause == nil || errors.Is(cause, dimse.ErrCanceled) {
		t.Errorf("operation's context after the abort: %v, want the association's end", cause)
	}
}

// TestRequestOnOtherContext: a C-FIND naming another SOP class than its
// presentation context's is refused (0122) without reaching the handler,
// and C-MOVE to a handler that is no Retriever is 0211; the association
// goes on.
func TestRequestOnOtherContext(t *testing.T) {
	addr, _ := startSlowFind(t)
	c, err := dimse.Dial(context.Background(), addr, dimse.ClientOptions{CallingAE: "WS", CalledAE: "IMGCLOUD", Timeout: 5 * time.Second,
		Contexts: []dimse.PresentationContext{{AbstractSyntax: findSOP, TransferSyntaxes: []string{explicitLE}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, _, _ := c.Context(findSOP)
	for _, tc := range []struct {
		field    uint16
		sopClass string
		want     uint16
	}{
		{dimse.CFindRQ, "1.2.840.10008.5.1.4.1.2.1.1", 0x0122},
		{dimse.CMoveRQ, "1.2.840.10008.5.1.4.1.2.2.2", 0x0211},
	} {
		cmd := dimse.Command{}
		cmd.SetString(dimse.TagAffectedSOPClassUID, tc.sopClass)
		cmd.SetU16(dimse.TagCommandField, tc.field)
		cmd.SetU16(dimse.TagMessageID, 5)
		if err := c.SendMessage(id, cmd, []byte{0x08, 0x00, 0x52, 0x00, 'C', 'S', 6, 0, 'S', 'T', 'U', 'D', 'Y', ' '}); err != nil {
			t.Fatal(err)
		}
		rsp, err := c.ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := rsp.U16(dimse.TagStatus); st != tc.want {
			t.Errorf("command %04X for %s: status %04X, want %04X", tc.field, tc.sopClass, st, tc.want)
		}
	}
	if err := c.Release(); err != nil {
		t.Error(err)
	}
}
