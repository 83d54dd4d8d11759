package dimse

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Options configure a Server. Zero values take the defaults named.
type Options struct {
	// AETitle is the gateway's AE title (echoed in A-ASSOCIATE-AC).
	AETitle string
	// MaxPDULength is the largest P-DATA-TF body the server receives,
	// announced in A-ASSOCIATE-AC (default 256 KiB); a longer PDU aborts
	// the association before anything is allocated.
	MaxPDULength uint32
	// MaxAssociations bounds associations at once (default 64); beyond,
	// A-ASSOCIATE-RJ transient, local limit exceeded.
	MaxAssociations int
	// MaxPerCaller bounds the associations of one calling AE title
	// (default MaxAssociations/4, at least 1), so that one peer holding
	// idle associations does not shut the others out.
	MaxPerCaller int
	// MaxConnections bounds TCP connections, associated or not (default
	// 1024); beyond, new connections are closed at once. Connections that
	// never associate hold no association slot and are closed by ARTIM.
	MaxConnections int
	// ARTIM is the association request/release timer (PS3.8 9.1.5,
	// default 30 s): how long a connection may take to send its
	// A-ASSOCIATE-RQ, and to close after a release or reject.
	ARTIM time.Duration
	// IdleTimeout closes (A-ABORT) an association idle that long, or
	// whose PDU does not arrive in full within it (default 5 min).
	IdleTimeout time.Duration
	// MaxDataSetBytes bounds one data set (default 4 GiB).
	MaxDataSetBytes int64
	// SpoolDir holds data sets larger than SpoolMemory while they arrive
	// (default os.TempDir()).
	SpoolDir string
	// SpoolMemory is how much of a data set is kept in memory before it
	// is spilled to a file in SpoolDir (default 1 MiB).
	SpoolMemory int
	// Syntaxes returns the transfer syntaxes the server accepts for an
	// abstract syntax (nil: not supported). Required.
	Syntaxes func(abstractSyntax string) []string
	// Handler decides on associations and serves requests. Required.
	Handler Handler
	Logger  *slog.Logger
}

// Association is an accepted (or being negotiated) association.
type Association struct {
	// TLS is the state of a DICOM TLS connection (nil on the plain
	// port): the handler reads the verified client certificate there.
	TLS *tls.ConnectionState

	// ID names the association in logs and the audit trail.
	ID     string
	RQ     *AssociateRQ
	Remote net.Addr
	Log    *slog.Logger
	// accepted presentation contexts: id -> transfer syntax, abstract syntax.
	ts, as map[byte]string
	// scpRole: SOP classes for which the requestor took the SCP role (role
	// selection), so that C-GET may send it C-STORE sub-operations.
	scpRole map[string]bool
}

// StoreRequest is a C-STORE-RQ with its data set.
type StoreRequest struct {
	Command               Command
	SOPClass, SOPInstance string
	TransferSyntax        string
	// Data is the data set in TransferSyntax (no file meta
	// information), read from the association as it arrives: it ends
	// with io.EOF only once the last fragment arrived, and fails if the
	// association is aborted or breaks before. What the handler leaves
	// unread is discarded before the response.
	Data io.Reader
}

// FindRequest is a C-FIND-RQ with its identifier.
type FindRequest struct {
	Command        Command
	SOPClass       string
	TransferSyntax string
	// Identifier is the query data set in TransferSyntax.
	Identifier []byte
}

// Handler serves the application side of associations. Calls for one
// association come one operation at a time: C-FIND (and C-MOVE, C-GET of
// a Retriever) in a goroutine of their own while the association's reader
// waits for a C-CANCEL-RQ, the others from the reader.
type Handler interface {
	// Associate decides on an A-ASSOCIATE-RQ; a *RejectError refuses it
	// with that result, source and reason. The context it returns is
	// passed to every later call of the association.
	Associate(ctx context.Context, a *Association) (context.Context, error)
	// Echo answers a C-ECHO-RQ with a status.
	Echo(ctx context.Context, a *Association) uint16
	// Store handles a C-STORE-RQ: a status (PS3.4 B.2.3) and, for a
	// warning or failure, an error comment.
	Store(ctx context.Context, a *Association, rq *StoreRequest) (status uint16, comment string)
	// Find handles a C-FIND-RQ: it calls match with each matching
	// identifier (encoded in TransferSyntax; each is sent as a pending
	// response) and returns the final status and comment. After a
	// C-CANCEL-RQ, match returns ErrCanceled (the context's cause).
	Find(ctx context.Context, a *Association, rq *FindRequest, match func(identifier []byte) error) (status uint16, comment string)
	// Closed reports the end of an accepted association: err is nil after
	// an A-RELEASE, else why it ended (abort, timeout, protocol error).
	Closed(ctx context.Context, a *Association, err error)
}

// Server accepts associations on listeners.
type Server struct {
	opt Options
	log *slog.Logger

	mu       sync.Mutex
	assocs   int
	conns    int
	byCaller map[string]int
	open     map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// New returns a server; Serve starts it on a listener.
func New(opt Options) (*Server, error) {
	if opt.Syntaxes == nil || opt.Handler == nil {
		return nil, errors.New("dimse: Options.Syntaxes and Options.Handler are required")
	}
	if opt.MaxPDULength == 0 {
		opt.MaxPDULength = 256 << 10
	}
	if opt.MaxAssociations <= 0 {
		opt.MaxAssociations = 64
	}
	if opt.MaxPerCaller <= 0 {
		opt.MaxPerCaller = max(1, opt.MaxAssociations/4)
	}
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = 1024
	}
	if opt.ARTIM <= 0 {
		opt.ARTIM = 30 * time.Second
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 5 * time.Minute
	}
	if opt.MaxDataSetBytes <= 0 {
		opt.MaxDataSetBytes = 4 << 30
	}
	if opt.SpoolDir == "" {
		opt.SpoolDir = os.TempDir()
	}
	if opt.SpoolMemory <= 0 {
		opt.SpoolMemory = 1 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opt: opt, log: opt.Logger, byCaller: map[string]int{}, open: map[net.Conn]struct{}{}}, nil
}

// Serve accepts connections on ln until ctx ends or Close is called.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept DICOM connection: %w", err)
		}
		if !s.addConn(conn) {
			s.log.Warn("DICOM connection refused: too many connections", "remote", conn.RemoteAddr().String(), "max", s.opt.MaxConnections)
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.dropConn(conn)
			s.serveConn(ctx, conn)
		}()
	}
}

// ServeConn serves one connection already accepted (by a TLS listener,
// or a test) until its association ends; it closes the connection.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	if !s.addConn(nc) {
		nc.Close()
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer s.dropConn(nc)
	s.serveConn(ctx, nc)
}

// Close aborts every connection and waits for their goroutines (or ctx).
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		// A-ABORT from the provider, then close.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_ = writePDU(c, pduAbort, []byte{0, 0, 2, abortNotSpecified})
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close DICOM server: %w", ctx.Err())
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) addConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.conns >= s.opt.MaxConnections {
		return false
	}
	s.conns++
	s.open[c] = struct{}{}
	return true
}

func (s *Server) dropConn(c net.Conn) {
	c.Close()
	s.mu.Lock()
	s.conns--
	delete(s.open, c)
	s.mu.Unlock()
}

// acquire takes an association slot for a calling AE.
func (s *Server) acquire(caller string) *RejectError {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.assocs >= s.opt.MaxAssociations:
		return RejectBusy(fmt.Sprintf("%d associations are open, the most the gateway serves at once", s.assocs))
	case s.byCaller[caller] >= s.opt.MaxPerCaller:
		return RejectBusy(fmt.Sprintf("calling AE %s has %d associations open, the most one AE may hold", caller, s.byCaller[caller]))
	}
	s.assocs++
	s.byCaller[caller]++
	return nil
}

func (s *Server) release(caller string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assocs--
	if s.byCaller[caller]--; s.byCaller[caller] <= 0 {
		delete(s.byCaller, caller)
	}
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// conn is one transport connection and its association state.
type conn struct {
	// reports are the N-EVENT-REPORTs sent and not yet confirmed, by
	// message id (numbered with msgID, naction.go).
	reports map[uint16]*EventReport

	s *Server
	c net.Conn
	r *bufio.Reader
	// pduLeft is what is left to read of the P-DATA-TF being read;
	// chunk is a buffer for spooling data sets other than C-STORE's.
	pduLeft int64
	chunk   []byte
	a       *Association
	peer    uint32 // the peer's maximum P-DATA-TF length (0: none)

	// wmu serialises writes (a message's PDUs are never interleaved) and
	// guards op, the operation running beside the reader, and msgID, the
	// last message id of the server's own requests (C-GET sub-operations,
	// N-EVENT-REPORT).
	wmu   sync.Mutex
	op    *operation
	msgID uint16
}

// serveConn runs the state machine of PS3.8 9.2 for one connection:
// Sta2 (awaiting A-ASSOCIATE-RQ under ARTIM), Sta6 (established, under
// the idle timer), and the release or abort that ends it.
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := &conn{s: s, c: nc, r: bufio.NewReaderSize(nc, 16<<10)}
	id := newID()
	log := s.log.With("assoc", id, "remote", nc.RemoteAddr().String())
	var tlsState *tls.ConnectionState
	if tc, ok := nc.(*tls.Conn); ok {
		// The handshake runs under ARTIM, like the A-ASSOCIATE-RQ.
		_ = nc.SetDeadline(time.Now().Add(s.opt.ARTIM))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Info("DICOM TLS handshake failed", "err", err)
			return
		}
		st := tc.ConnectionState()
		tlsState = &st
	}
	_ = nc.SetReadDeadline(time.Now().Add(s.opt.ARTIM))
	typ, n, err := readPDUHeader(c.r, s.opt.MaxPDULength)
	if err != nil {
		c.fail(log, err)
		return
	}
	if typ != pduAssociateRQ {
		c.fail(log, protoErr(abortUnexpectedPDU, "PDU type %#02x before A-ASSOCIATE-RQ", typ))
		return
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.fail(log, fmt.Errorf("read A-ASSOCIATE-RQ: %w", err))
		return
	}
	rq, err := parseAssociateRQ(body)
	if err != nil {
		c.fail(log, err)
		return
	}
	log = log.With("calling", rq.CallingAE, "called", rq.CalledAE)
	a := &Association{ID: id, RQ: rq, Remote: nc.RemoteAddr(), Log: log, ts: map[byte]string{}, as: map[byte]string{}, scpRole: map[string]bool{}}
	c.a = a
	switch {
	case rq.ProtocolVersion&1 == 0:
		c.reject(log, &RejectError{Result: 1, Source: 2, Reason: 2, Msg: fmt.Sprintf("protocol version %#04x not supported", rq.ProtocolVersion)})
		return
	case rq.ApplicationContext != ApplicationContext:
		c.reject(log, &RejectError{Result: 1, Source: 1, Reason: 2, Msg: fmt.Sprintf("application context %q not supported", rq.ApplicationContext)})
		return
	}
	if rj := s.acquire(rq.CallingAE); rj != nil {
		c.reject(log, rj)
		return
	}
	a.TLS = tlsState
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	hctx, err := s.opt.Handler.Associate(actx, a)
	if err != nil {
		// The slot is given back before lingering, so that a stranger
		// using a known AE's title cannot hold that AE's slots.
		s.release(rq.CallingAE)
		var rj *RejectError
		if !errors.As(err, &rj) {
			rj = &RejectError{Result: 2, Source: 1, Reason: 1, Msg: err.Error()}
		}
		c.reject(log, rj)
		return
	}
	defer s.release(rq.CallingAE)
	ac := s.negotiate(a)
	c.peer = rq.MaxLength
	if err := c.write(pduAssociateAC, ac.encode()); err != nil {
		s.opt.Handler.Closed(hctx, a, fmt.Errorf("send A-ASSOCIATE-AC: %w", err))
		return
	}
	log.Debug("association accepted", "contexts", len(a.ts))
	err = c.established(hctx)
	c.undelivered(hctx)
	s.opt.Handler.Closed(hctx, a, err)
}

// negotiate answers each proposed presentation context: the first
// transfer syntax of the proposer's list that the server accepts. Role
// selection is accepted as proposed for accepted abstract syntaxes (a
// C-GET SCU is the SCP of its storage classes).
func (s *Server) negotiate(a *Association) *associateAC {
	ac := &associateAC{rq: a.RQ, maxLength: s.opt.MaxPDULength}
	accepted := map[string]bool{}
	for _, pc := range a.RQ.Contexts {
		res := contextResult{id: pc.ID, result: 3}
		if ok := s.opt.Syntaxes(pc.AbstractSyntax); ok != nil {
			res.result = 4
		pick:
			for _, ts := range pc.TransferSyntaxes {
				for _, o := range ok {
					if ts == o {
						res.result, res.ts = 0, ts
						break pick
					}
				}
			}
		}
		if res.result == 0 {
			a.ts[pc.ID], a.as[pc.ID] = res.ts, pc.AbstractSyntax
			accepted[pc.AbstractSyntax] = true
		}
		ac.results = append(ac.results, res)
	}
	for _, r := range a.RQ.Roles {
		if accepted[r.SOPClass] {
			ac.roles = append(ac.roles, r)
			if r.SCP {
				a.scpRole[r.SOPClass] = true
			}
		}
	}
	return ac
}

// message is a DIMSE message being reassembled.
type message struct {
	ctx   byte
	cmd   []byte
	rq    Command
	data  *spool
	field uint16
}

// established is Sta6: P-DATA until release, abort or an error.
func (c *conn) established(ctx context.Context) error {
	var m *message
	defer func() {
		if m != nil && m.data != nil {
			m.data.close()
		}
	}()
	defer c.endOp()
	for {
		c.wmu.Lock()
		if c.op == nil { // while an operation runs, startOp lifted the timer
			_ = c.c.SetReadDeadline(time.Now().Add(c.s.opt.IdleTimeout))
		}
		c.wmu.Unlock()
		if c.pduLeft > 0 {
			h, err := c.nextPDV()
			if err == nil {
				m, err = c.pdv(ctx, m, h)
			}
			if err != nil {
				return c.fail(c.a.Log, err)
			}
			continue
		}
		typ, n, err := readPDUHeader(c.r, c.s.opt.MaxPDULength)
		if err != nil {
			return c.fail(c.a.Log, err)
		}
		switch typ {
		case pduPData:
			if n == 0 {
				return c.fail(c.a.Log, protoErr(abortInvalidParam, "P-DATA-TF without a presentation data value"))
			}
			c.pduLeft = int64(n)
		case pduReleaseRQ:
			if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
				return c.fail(c.a.Log, err)
			}
			if m != nil {
				return c.fail(c.a.Log, protoErr(abortUnexpectedPDU, "A-RELEASE-RQ in the middle of a message"))
			}
			if c.current() != nil {
				return c.fail(c.a.Log, protoErr(abortUnexpectedPDU, "A-RELEASE-RQ while an operation runs"))
			}
			if err := c.write(pduReleaseRP, make([]byte, 4)); err != nil {
				return fmt.Errorf("send A-RELEASE-RP: %w", err)
			}
			c.linger()
			return nil
		case pduAbort:
			_, _ = io.CopyN(io.Discard, c.r, int64(n))
			return errPeerAborted
		default:
			return c.fail(c.a.Log, protoErr(abortUnexpectedPDU, "PDU type %#02x on an established association", typ))
		}
	}
}

// pdv reads one presentation data value into the message being
// assembled and dispatches the message once complete. A C-STORE-RQ is
// dispatched as soon as its command set is: its data set is streamed to
// the handler (stream.go); the data sets of other requests (identifiers,
// N-ACTION information) are spooled.
func (c *conn) pdv(ctx context.Context, m *message, v pdvHead) (*message, error) {
	if _, ok := c.a.ts[v.ctx]; !ok {
		return m, protoErr(abortInvalidParam, "presentation context %d was not accepted on this association", v.ctx)
	}
	if m == nil {
		if !v.command {
			return m, protoErr(abortUnexpectedPDU, "data set fragment before any command")
		}
		m = &message{ctx: v.ctx}
	}
	if v.ctx != m.ctx {
		return m, protoErr(abortInvalidParam, "fragment on presentation context %d inside a message on context %d", v.ctx, m.ctx)
	}
	if v.command {
		if m.rq != nil {
			return m, protoErr(abortUnexpectedPDU, "command fragment where the data set was expected")
		}
		if len(m.cmd)+v.n > maxCommandBytes {
			return m, protoErr(abortInvalidParam, "command set larger than %d bytes", maxCommandBytes)
		}
		k := len(m.cmd)
		m.cmd = slices.Grow(m.cmd, v.n)[:k+v.n]
		if err := c.readValue(m.cmd[k:]); err != nil {
			return m, err
		}
		if !v.last {
			return m, nil
		}
		rq, err := parseCommand(m.cmd)
		if err != nil {
			return m, protoErr(abortInvalidParam, "%v", err)
		}
		field, ok := rq.U16(TagCommandField)
		if !ok {
			return m, protoErr(abortInvalidParam, "command set without CommandField (0000,0100)")
		}
		if _, ok := rq.U16(TagMessageID); !ok && field&0x8000 == 0 && field != CCancelRQ {
			return m, protoErr(abortInvalidParam, "request without MessageID (0000,0110)")
		}
		m.rq, m.field, m.cmd = rq, field, nil
		switch {
		case !rq.HasDataSet():
			return nil, c.dispatch(ctx, m)
		case field == CStoreRQ:
			return nil, c.store(ctx, m)
		}
		m.data = newSpool(c.s.opt.SpoolDir, c.s.opt.SpoolMemory)
		return m, nil
	}
	if m.rq == nil {
		return m, protoErr(abortUnexpectedPDU, "data set fragment before the command set is complete")
	}
	if m.data.size()+int64(v.n) > c.s.opt.MaxDataSetBytes {
		return m, protoErr(abortInvalidParam, "data set larger than %d bytes", c.s.opt.MaxDataSetBytes)
	}
	if err := c.spoolValue(m.data, v.n); err != nil {
		return m, err
	}
	if !v.last {
		return m, nil
	}
	defer m.data.close()
	return nil, c.dispatch(ctx, m)
}

// dispatch serves one complete request and sends its response.
func (c *conn) dispatch(ctx context.Context, m *message) error {
	if op := c.current(); op != nil {
		return c.duringOp(op, m)
	}
	switch m.field {
	case CEchoRQ:
		return c.send(m.ctx, Response(m.rq, c.s.opt.Handler.Echo(ctx, c.a), ""), nil)
	case NActionRQ: // naction.go
		return c.action(ctx, m)
	case NEventReportRQ:
		return c.eventReport(ctx, m)
	case NEventReportRSP:
		c.reported(m.rq)
		return nil
	case CStoreRQ: // with a data set: store (stream.go)
		return c.send(m.ctx, Response(m.rq, 0xC000, "C-STORE-RQ without a data set"), nil)
	case CFindRQ, CMoveRQ, CGetRQ:
		rt, ok := c.s.opt.Handler.(Retriever)
		if m.field != CFindRQ && !ok {
			break
		}
		if m.data == nil {
			return c.send(m.ctx, Response(m.rq, 0xC000, "request without an identifier"), nil)
		}
		r, err := m.data.reader()
		if err != nil {
			return c.send(m.ctx, Response(m.rq, 0xA700, "spool unreadable"), nil)
		}
		id, err := io.ReadAll(io.LimitReader(r, maxCommandBytes+1))
		if err != nil || len(id) > maxCommandBytes {
			return c.send(m.ctx, Response(m.rq, 0xA900, "identifier unreadable or larger than 64 KiB"), nil)
		}
		sopClass, ts := m.rq.String(TagAffectedSOPClassUID), c.a.ts[m.ctx]
		if sopClass != c.a.as[m.ctx] {
			// 0122: SOP class not supported (on this context).
			return c.send(m.ctx, Response(m.rq, 0x0122, "SOP class differs from the presentation context's abstract syntax"), nil)
		}
		if m.field != CFindRQ {
			msgID, _ := m.rq.U16(TagMessageID)
			c.retrieve(ctx, m, rt, &RetrieveRequest{Command: m.rq, SOPClass: sopClass, TransferSyntax: ts, Identifier: id,
				Destination: m.rq.String(TagMoveDestination), MessageID: msgID})
			return nil
		}
		rq := &FindRequest{Command: m.rq, SOPClass: sopClass, TransferSyntax: ts, Identifier: id}
		c.startOp(ctx, m, func(octx context.Context, _ *operation) (Command, []byte) {
			status, comment := c.s.opt.Handler.Find(octx, c.a, rq, func(ds []byte) error {
				if octx.Err() != nil {
					return context.Cause(octx)
				}
				pending := Response(m.rq, 0xFF00, "")
				pending.SetU16(TagDataSetType, 0)
				return c.send(m.ctx, pending, ds)
			})
			return Response(m.rq, status, comment), nil
		})
		return nil
	case CCancelRQ:
		// A C-CANCEL that arrives after its operation ended is moot.
		return nil
	}
	if m.field&0x8000 != 0 {
		return protoErr(abortUnexpectedPDU, "response command %#04x sent to the SCP", m.field)
	}
	// 0x0211: unrecognized operation (PS3.7 C.4).
	return c.send(m.ctx, Response(m.rq, 0x0211, fmt.Sprintf("command %#04x is not supported", m.field)), nil)
}

// send writes a message: the command, then the data set, each split in
// PDVs within the peer's maximum length.
func (c *conn) send(ctxID byte, cmd Command, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sendLocked(ctxID, cmd, data)
}

// sendLocked is send with wmu held.
func (c *conn) sendLocked(ctxID byte, cmd Command, data []byte) error {
	if err := c.sendPart(ctxID, 1, cmd.encode()); err != nil {
		return err
	}
	if data != nil {
		return c.sendPart(ctxID, 0, data)
	}
	return nil
}

// pdvMax is the largest PDV value that fits the peer's maximum length.
func (c *conn) pdvMax() int {
	n := int(c.s.opt.MaxPDULength)
	if c.peer != 0 && int(c.peer) < n {
		n = int(c.peer)
	}
	return max(n-6, 1) // PDV length and header

}

// sendPart writes one part of a message (wmu held).
func (c *conn) sendPart(ctxID, control byte, b []byte) error {
	max := c.pdvMax()
	for {
		n := min(len(b), max)
		ctl := control
		if n == len(b) {
			ctl |= 2
		}
		pd := make([]byte, 0, 6+n)
		pd = binary.BigEndian.AppendUint32(pd, uint32(n+2))
		pd = append(pd, ctxID, ctl)
		pd = append(pd, b[:n]...)
		if err := c.write1(pduPData, pd); err != nil {
			return fmt.Errorf("send P-DATA-TF: %w", err)
		}
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
	}
}

func (c *conn) write(typ byte, body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.write1(typ, body)
}

// write1 writes one PDU (wmu held).
func (c *conn) write1(typ byte, body []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.s.opt.IdleTimeout))
	return writePDU(c.c, typ, body)
}

// fail ends the association: A-ABORT for a protocol error, nothing for a
// transport error or timeout (the connection is gone or stalled).
func (c *conn) fail(log *slog.Logger, err error) error {
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe):
		log.Warn("DICOM association aborted", "err", err)
		_ = c.write(pduAbort, []byte{0, 0, 2, pe.Reason})
	case errors.Is(err, os.ErrDeadlineExceeded):
		log.Info("DICOM association timed out", "err", err)
		_ = c.write(pduAbort, []byte{0, 0, 2, abortNotSpecified})
		err = fmt.Errorf("timed out: %w", err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("connection closed by the peer: %w", err)
	}
	return err
}

// reject sends A-ASSOCIATE-RJ and waits (ARTIM) for the peer to close.
func (c *conn) reject(log *slog.Logger, rj *RejectError) {
	log.Info("DICOM association rejected", "result", rj.Result, "source", rj.Source, "reason", rj.Reason, "why", rj.Msg)
	_ = c.write(pduAssociateRJ, []byte{0, rj.Result, rj.Source, rj.Reason})
	c.linger()
}

// linger waits up to ARTIM for the peer to close the connection (Sta13).
func (c *conn) linger() {
	_ = c.c.SetReadDeadline(time.Now().Add(c.s.opt.ARTIM))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.r, 1<<20))
}
