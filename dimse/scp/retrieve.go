package scp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
)

// Query/Retrieve information models served by C-MOVE and C-GET.
const (
	StudyRootMove   = "1.2.840.10008.5.1.4.1.2.2.2"
	StudyRootGet    = "1.2.840.10008.5.1.4.1.2.2.3"
	PatientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
	PatientRootGet  = "1.2.840.10008.5.1.4.1.2.1.3"
)

const (
	tagPatientID = "00100020"
	tagSOP       = "00080018"
	tagSOPClass  = "00080016"
)

// Transcoder converts instances for the sub-operations of C-MOVE and
// C-GET, when the peer does not accept the stored syntax. The default,
// NativeTranscoder, converts between the native little endian syntaxes
// (dcm.Reencode); DecodingTranscoder also decodes compressed pixel data
// with the archive's codecs.
type Transcoder interface {
	// CanTranscode reports whether data sets stored in syntax from can be
	// sent in syntax to: what a move proposes and a sub-operation picks.
	CanTranscode(from, to string) bool
	// Transcode opens the data set of in (no file meta) in syntax to, one
	// CanTranscode allows. An instance that cannot be converted is an
	// error here, before anything is sent (the sub-operation fails with
	// the reason); a read error later cuts the sub-operation's message.
	Transcode(ctx context.Context, in *archive.Instance, to string) (io.ReadCloser, error)
}

// Opener opens stored instances (archive.Service).
type Opener interface {
	Open(ctx context.Context, in *archive.Instance) (io.ReadCloser, error)
}

// NativeTranscoder re-encodes between Explicit and Implicit VR Little
// Endian (and from Deflated Explicit VR Little Endian) the instances its
// Archive opens.
type NativeTranscoder struct{ Archive Opener }

// CanTranscode implements Transcoder.
func (NativeTranscoder) CanTranscode(from, to string) bool { return dcm.CanReencode(from, to) }

// Transcode implements Transcoder.
func (n NativeTranscoder) Transcode(ctx context.Context, in *archive.Instance, to string) (io.ReadCloser, error) {
	rc, err := n.Archive.Open(ctx, in)
	if err != nil {
		return nil, err
	}
	return reencoded(rc, to)
}

// reencoded streams the data set of the Part 10 file rc reads,
// re-encoded in syntax to (as stored when it is in to).
func reencoded(rc io.ReadCloser, to string) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(rc, 64<<10)
	from, err := dcm.SkipFileMeta(br)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("read file meta: %w", err)
	}
	if from == to {
		return readCloser{br, rc}, nil
	}
	if !dcm.CanReencode(from, to) {
		rc.Close()
		return nil, fmt.Errorf("%w: %s to %s", dcm.ErrNotReencodable, from, to)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(dcm.Reencode(pw, br, from, to))
		rc.Close()
	}()
	return pr, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Decoder is what DecodingTranscoder needs of archive.Service.
type Decoder interface {
	Opener
	OpenAs(ctx context.Context, in *archive.Instance, ts string) (io.ReadCloser, int64, error)
	Decodes(ts string) bool
}

// DecodingTranscoder sends an instance stored compressed in a syntax its
// Archive decodes as Explicit VR Little Endian (archive.Service.OpenAs:
// the pixel data decoded, the rest of the data set element for element)
// or Implicit VR Little Endian (that, re-encoded); native instances as
// NativeTranscoder does.
type DecodingTranscoder struct{ Archive Decoder }

// CanTranscode implements Transcoder.
func (d DecodingTranscoder) CanTranscode(from, to string) bool {
	return dcm.CanReencode(from, to) ||
		(to == dcm.ExplicitVRLittleEndian || to == dcm.ImplicitVRLittleEndian) && d.Archive.Decodes(from)
}

// Transcode implements Transcoder.
func (d DecodingTranscoder) Transcode(ctx context.Context, in *archive.Instance, to string) (io.ReadCloser, error) {
	if dcm.CanReencode(in.TransferSyntax, to) {
		return NativeTranscoder{d.Archive}.Transcode(ctx, in, to)
	}
	// OpenAs decodes the first frame before it returns: data that does
	// not decode fails the sub-operation before its C-STORE goes out.
	rc, _, err := d.Archive.OpenAs(ctx, in, dcm.ExplicitVRLittleEndian)
	if err != nil {
		return nil, err
	}
	return reencoded(rc, to)
}

// fallbacks are the syntaxes proposed besides the stored one, in the
// order of preference.
var fallbacks = []string{dcm.ExplicitVRLittleEndian, dcm.ImplicitVRLittleEndian}

// target is where sub-operations go: a new association (C-MOVE) or the
// requesting one (C-GET).
type target interface {
	// syntaxes the instance can be sent in, for its class and stored syntax.
	syntaxes(sopClass, stored string) []string
	store(sopClass, sop, ts string, data io.Reader, moveAE string, moveID uint16) (uint16, string, error)
	// recover makes a new association after one was lost in the middle
	// of a sub-operation (C-MOVE); an error when it cannot (C-GET: the
	// requester's association is the one lost).
	recover(ctx context.Context) error
}

// Move answers C-MOVE: the instances the identifier names that the AE's
// institution may see (the visibility rule of WADO-RS), sent with C-STORE
// over a new association to a known AE of the same institution.
func (s *Service) Move(ctx context.Context, a *dimse.Association, rq *dimse.RetrieveRequest, pending func(dimse.SubOps) error) dimse.RetrieveResult {
	ss := sessionOf(ctx)
	list, asked, res, ok := s.matches(ctx, rq)
	if ok {
		dest, known := s.opt.AEs.Destination(rq.Destination)
		switch {
		case !known:
			// A801 names the refusal; the comment says why.
			res = dimse.RetrieveResult{Status: 0xA801, Comment: fmt.Sprintf("move destination %q is not a known AE with a port", rq.Destination)}
		case dest.Institution != ss.ae.Institution:
			res = dimse.RetrieveResult{Status: 0xA801, Comment: fmt.Sprintf("move destination %q is not an AE of institution %s", rq.Destination, ss.ae.Institution)}
		case len(list) == 0:
		default:
			res = s.moveTo(ctx, a, rq, dest, list, pending)
		}
	}
	s.retrieved(ctx, a, "C-MOVE", rq.Destination, asked, list, res)
	res.Comment = clipComment(res.Comment) // in full in the audit trail
	return res
}

// Get answers C-GET: as Move, the instances sent on the requesting
// association, in the storage contexts it proposed with the SCP role.
func (s *Service) Get(ctx context.Context, a *dimse.Association, rq *dimse.RetrieveRequest, sub dimse.SubStore, pending func(dimse.SubOps) error) dimse.RetrieveResult {
	list, asked, res, ok := s.matches(ctx, rq)
	if ok && len(list) > 0 {
		res = s.send(ctx, getTarget{sub}, list, "", 0, pending)
	}
	s.retrieved(ctx, a, "C-GET", "", asked, list, res)
	res.Comment = clipComment(res.Comment) // in full in the audit trail
	return res
}

// retrieved audits a C-MOVE or C-GET once, with its counts and the study:
// the one its instances belong to, else the one the identifier named (a
// move of a study that matched nothing, hidden or missing, names it too).
func (s *Service) retrieved(ctx context.Context, a *dimse.Association, cmd, dest, asked string, list []*archive.Instance, res dimse.RetrieveResult) {
	detail := fmt.Sprintf("%d completed, %d failed, %d warning", res.Completed, res.Failed, res.Warning)
	if dest != "" {
		detail = "to " + dest + ": " + detail
	}
	if res.Comment != "" {
		detail += "; " + res.Comment
	}
	study := ""
	for i, in := range list {
		if i > 0 && in.Study != study {
			study = ""
			break
		}
		study = in.Study
	}
	if len(list) == 0 {
		study = asked
	}
	s.op(ctx, a, cmd, res.Status, detail, study, "", "")
}

// matches resolves the identifier to the instances the AE may retrieve,
// and names the study it asks for when it names one; ok is false with
// the refusal in res. A study, series or instance that does not exist and
// one the AE may not see are alike: not matched.
func (s *Service) matches(ctx context.Context, rq *dimse.RetrieveRequest) (_ []*archive.Instance, asked string, _ dimse.RetrieveResult, ok bool) {
	ss := sessionOf(ctx)
	p, err := ss.ae.Principal(access.OpRetrieve)
	if err != nil {
		return nil, "", dimse.RetrieveResult{Status: 0x0124, Comment: err.Error()}, false
	}
	ctx = auth.WithPrincipal(ctx, p)
	keys, err := decodeIdentifier(rq.Identifier, rq.TransferSyntax == dcm.ImplicitVRLittleEndian)
	if err != nil {
		return nil, "", dimse.RetrieveResult{Status: 0xA900, Comment: "identifier: " + err.Error()}, false
	}
	list := func(tag string) []string {
		var out []string
		for _, v := range strings.Split(keys[tag], `\`) {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	one := func(tag string) string {
		if l := list(tag); len(l) == 1 {
			return l[0]
		}
		return ""
	}
	patientRoot := rq.SOPClass == PatientRootMove || rq.SOPClass == PatientRootGet
	var found []*archive.Instance
	add := func(ins []*archive.Instance, err error) error {
		if errors.Is(err, archive.ErrNotFound) {
			return nil
		}
		found = append(found, ins...)
		return err
	}
	asked = one(tagStudy)
	refuse := func(format string, args ...any) ([]*archive.Instance, string, dimse.RetrieveResult, bool) {
		return nil, asked, dimse.RetrieveResult{Status: 0xA900, Comment: fmt.Sprintf(format, args...)}, false
	}
	switch lv := strings.TrimSpace(keys[tagLevel]); lv {
	case "PATIENT":
		if !patientRoot {
			return refuse("PATIENT level is of the Patient Root model")
		}
		ids := list(tagPatientID)
		if len(ids) == 0 {
			return refuse("PATIENT level needs PatientID")
		}
		res, err := s.opt.Archive.Search(ctx, archive.Query{Level: archive.LevelStudy, Limit: archive.MaxLimit,
			Params: []archive.Param{{Tag: tagPatientID, Value: strings.Join(ids, ",")}}}, archive.Scope{})
		if err == nil {
			for _, st := range res.Items {
				if err = add(s.opt.Archive.Instances(ctx, st.String(tagStudy), "", "")); err != nil {
					break
				}
			}
		}
		err = unavailable(err)
		if err != nil {
			return nil, asked, dimse.RetrieveResult{Status: 0xA701, Comment: err.Error()}, false
		}
	case "STUDY":
		uids := list(tagStudy)
		if len(uids) == 0 {
			return refuse("STUDY level needs StudyInstanceUID")
		}
		for _, u := range uids {
			if err = add(s.opt.Archive.Instances(ctx, u, "", "")); err != nil {
				break
			}
		}
	case "SERIES":
		uids := list(tagSeries)
		if len(uids) == 0 {
			return refuse("SERIES level needs SeriesInstanceUID")
		}
		if study := one(tagStudy); study != "" {
			for _, u := range uids {
				if err = add(s.opt.Archive.Instances(ctx, study, u, "")); err != nil {
					break
				}
			}
			break
		}
		var res *archive.Result
		res, err = s.opt.Archive.Search(ctx, archive.Query{Level: archive.LevelSeries, Limit: archive.MaxLimit,
			Params: []archive.Param{{Tag: tagSeries, Value: strings.Join(uids, ",")}}}, archive.Scope{})
		if err == nil {
			for _, se := range res.Items {
				if err = add(s.opt.Archive.Instances(ctx, se.String(tagStudy), se.String(tagSeries), "")); err != nil {
					break
				}
			}
		}
	case "IMAGE":
		uids := list(tagSOP)
		if len(uids) == 0 {
			return refuse("IMAGE level needs SOPInstanceUID")
		}
		study, series := one(tagStudy), one(tagSeries)
		for _, u := range uids {
			if study != "" && series != "" {
				err = add(s.opt.Archive.Instances(ctx, study, series, u))
			} else {
				var in *archive.Instance
				in, err = s.opt.Archive.InstanceBySOP(ctx, u)
				err = add([]*archive.Instance{in}, err)
			}
			if err != nil {
				break
			}
		}
	default:
		return refuse("QueryRetrieveLevel %q is not served (PATIENT, STUDY, SERIES, IMAGE)", lv)
	}
	if err = unavailable(err); err != nil {
		return nil, asked, dimse.RetrieveResult{Status: 0xA701, Comment: err.Error()}, false
	}
	seen := map[string]bool{}
	out := found[:0]
	for _, in := range found {
		if in != nil && !seen[in.SOP] {
			seen[in.SOP] = true
			out = append(out, in)
		}
	}
	return out, asked, dimse.RetrieveResult{}, true
}

// unavailable words an index failure for the peer (details to the log
// through the error chain are not sent).
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var inv *archive.InvalidError
	if errors.As(err, &inv) {
		return inv
	}
	return errors.New("index unavailable, retry later")
}

// moveTo opens the association to the destination and sends the
// instances: one presentation context per SOP class and stored syntax,
// proposing the stored syntax and the native ones the gateway can
// produce from it.
func (s *Service) moveTo(ctx context.Context, a *dimse.Association, rq *dimse.RetrieveRequest, dest access.AE, list []*archive.Instance, pending func(dimse.SubOps) error) dimse.RetrieveResult {
	mt := &moveTarget{ids: map[string]byte{}}
	var pcs []dimse.PresentationContext
	for _, in := range list {
		k := in.Attrs.String(tagSOPClass) + "|" + in.TransferSyntax
		if _, ok := mt.ids[k]; ok || len(pcs) == 128 {
			continue
		}
		id := byte(2*len(pcs) + 1)
		mt.ids[k] = id
		tss := []string{in.TransferSyntax}
		for _, f := range fallbacks {
			if f != in.TransferSyntax && s.tc.CanTranscode(in.TransferSyntax, f) {
				tss = append(tss, f)
			}
		}
		pcs = append(pcs, dimse.PresentationContext{ID: id, AbstractSyntax: in.Attrs.String(tagSOPClass), TransferSyntaxes: tss})
	}
	addr := net.JoinHostPort(dest.Host, strconv.Itoa(dest.Port))
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := dimse.Dial(dctx, addr, dimse.ClientOptions{CallingAE: s.opt.AETitle, CalledAE: dest.AET, Contexts: pcs,
		MaxLength: 256 << 10, Timeout: s.moveTimeout()})
	cancel()
	if err != nil {
		res := dimse.RetrieveResult{Status: 0xA702, Comment: fmt.Sprintf("open association to %s at %s: %v", dest.AET, addr, err)}
		res.Failed = len(list)
		for _, in := range list {
			res.FailedSOPs = append(res.FailedSOPs, in.SOP)
		}
		a.Log.Info("C-MOVE destination unreachable", "dest", dest.AET, "addr", addr, "err", err)
		return res
	}
	mt.c.Store(c)
	// The requester gone, a sub-operation waiting on the destination is
	// cut short; after a C-CANCEL it finishes.
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(context.Cause(ctx), dimse.ErrCanceled) {
			mt.c.Load().Close()
		}
	})
	defer stop()
	mt.redial = func(ctx context.Context) (*dimse.Client, error) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return dimse.Dial(dctx, addr, dimse.ClientOptions{CallingAE: s.opt.AETitle, CalledAE: dest.AET, Contexts: pcs,
			MaxLength: 256 << 10, Timeout: s.moveTimeout()})
	}
	res := s.send(ctx, mt, list, a.RQ.CallingAE, rq.MessageID, pending)
	if err := mt.c.Load().Release(); err != nil {
		a.Log.Info("C-MOVE sub-association not released in order", "dest", dest.AET, "err", err)
	}
	return res
}

func (s *Service) moveTimeout() time.Duration {
	if t := s.opt.Server.IdleTimeout; t > 0 {
		return t
	}
	return 5 * time.Minute
}

type moveTarget struct {
	// c is the destination association; the function that cuts it short
	// when the requester goes reads it from another goroutine.
	c      atomic.Pointer[dimse.Client]
	ids    map[string]byte
	redial func(context.Context) (*dimse.Client, error)
	// redials bounds recoveries, so that a destination that drops every
	// association is not dialled once per instance.
	redials int
}

func (m *moveTarget) recover(ctx context.Context) error {
	// Part of a message may be on the wire: the old association is
	// aborted, not released.
	m.c.Load().Abort()
	if m.redials >= 3 {
		return errors.New("destination association lost 3 times")
	}
	m.redials++
	c, err := m.redial(ctx)
	if err != nil {
		return err
	}
	m.c.Store(c)
	return nil
}

func (m *moveTarget) syntaxes(sopClass, stored string) []string {
	id, ok := m.ids[sopClass+"|"+stored]
	if !ok {
		return nil
	}
	if _, ts, ok := m.c.Load().Accepted(id); ok {
		return []string{ts}
	}
	return nil
}

func (m *moveTarget) store(sopClass, sop, ts string, data io.Reader, moveAE string, moveID uint16) (uint16, string, error) {
	for k, id := range m.ids {
		if strings.HasPrefix(k, sopClass+"|") {
			if _, got, ok := m.c.Load().Accepted(id); ok && got == ts {
				return m.c.Load().StoreFrom(id, sopClass, sop, moveAE, moveID, data)
			}
		}
	}
	return 0, "", fmt.Errorf("no accepted context for %s in %s", sopClass, ts)
}

type getTarget struct{ sub dimse.SubStore }

func (g getTarget) syntaxes(sopClass, _ string) []string { return g.sub.Syntaxes(sopClass) }

func (g getTarget) recover(context.Context) error {
	return errors.New("the requesting association is lost")
}

func (g getTarget) store(sopClass, sop, ts string, data io.Reader, _ string, _ uint16) (uint16, string, error) {
	return g.sub.Store(sopClass, sop, ts, data)
}

// send runs the sub-operations one by one, with a pending response after
// each but the last, and stops between two on C-CANCEL.
func (s *Service) send(ctx context.Context, t target, list []*archive.Instance, moveAE string, moveID uint16, pending func(dimse.SubOps) error) dimse.RetrieveResult {
	res := dimse.RetrieveResult{SubOps: dimse.SubOps{Remaining: len(list)}}
	firstFailure := ""
	fail := func(sop, why string) {
		res.Failed++
		res.FailedSOPs = append(res.FailedSOPs, sop)
		if firstFailure == "" {
			firstFailure = why
		}
	}
	for i, in := range list {
		if ctx.Err() != nil {
			res.Status, res.Comment = 0xFE00, "canceled"
			if !errors.Is(context.Cause(ctx), dimse.ErrCanceled) {
				res.Comment = "association ended"
			}
			for _, rest := range list[i:] {
				res.FailedSOPs = append(res.FailedSOPs, rest.SOP)
			}
			return res
		}
		status, comment, err := s.subOp(ctx, t, in, moveAE, moveID)
		res.Remaining--
		switch {
		case err != nil:
			fail(in.SOP, err.Error())
			if errors.Is(err, errLink) && ctx.Err() != nil {
				continue // canceled or the requester gone: the next turn answers
			}
			if errors.Is(err, errLink) && t.recover(ctx) == nil {
				break // this one failed; the next go on a new association
			}
			if errors.Is(err, errLink) {
				// The association is gone: the rest cannot be sent.
				for _, rest := range list[i+1:] {
					fail(rest.SOP, "")
				}
				res.Remaining = 0
				res.Status, res.Comment = 0xA702, err.Error()
				if res.Completed+res.Warning > 0 {
					res.Status = 0xB000
				}
				return res
			}
		case status == 0:
			res.Completed++
		case status&0xF000 == 0xB000 || status == 0x0001:
			res.Warning++
		default:
			fail(in.SOP, strings.TrimSpace(fmt.Sprintf("peer answered %04X %s", status, comment)))
		}
		if res.Remaining > 0 {
			if err := pending(res.SubOps); err != nil {
				return res // the requesting association is gone
			}
		}
	}
	switch {
	case res.Failed == 0 && res.Warning == 0:
		res.Status = 0
	case res.Failed > 0 && res.Completed+res.Warning == 0:
		res.Status = 0xA702
	default:
		res.Status = 0xB000
	}
	if res.Failed > 0 {
		// Full in the audit trail; package dimse clips the Error Comment.
		res.Comment = fmt.Sprintf("%d failed: %s", res.Failed, firstFailure)
	}
	return res
}

// errLink marks a sub-operation error after which the association that
// carries them is unusable (errors.Is); linkError keeps the cause's text,
// which the 64-character Error Comment has room for.
var errLink = errors.New("sub-operation association lost")

type linkError struct{ err error }

func (e linkError) Error() string        { return e.err.Error() }
func (e linkError) Unwrap() error        { return e.err }
func (e linkError) Is(target error) bool { return target == errLink }

// subOp sends one instance: the stored bytes when the target accepts the
// stored syntax, else a conversion the Transcoder can make, else a
// failure that says why (nothing is sent).
func (s *Service) subOp(ctx context.Context, t target, in *archive.Instance, moveAE string, moveID uint16) (uint16, string, error) {
	sopClass := in.Attrs.String(tagSOPClass)
	offered := t.syntaxes(sopClass, in.TransferSyntax)
	ts := ""
	if slices.Contains(offered, in.TransferSyntax) {
		ts = in.TransferSyntax
	} else {
		for _, f := range append(slices.Clone(fallbacks), offered...) {
			if slices.Contains(offered, f) && s.tc.CanTranscode(in.TransferSyntax, f) {
				ts = f
				break
			}
		}
	}
	if ts == "" {
		// The Failed SOP Instance UID List names the instance; the
		// comment (64 characters) starts with what matters most.
		undecodable := !dcm.CanReencode(in.TransferSyntax, dcm.ExplicitVRLittleEndian) &&
			!s.tc.CanTranscode(in.TransferSyntax, dcm.ExplicitVRLittleEndian) && !s.tc.CanTranscode(in.TransferSyntax, dcm.ImplicitVRLittleEndian)
		switch {
		case len(offered) == 0 && undecodable:
			return 0, "", fmt.Errorf("%s not accepted, cannot decode it (stored syntax of SOP class %s)", in.TransferSyntax, sopClass)
		case len(offered) == 0:
			return 0, "", fmt.Errorf("stored syntax %s not accepted for SOP class %s", in.TransferSyntax, sopClass)
		}
		return 0, "", fmt.Errorf("stored syntax %s not convertible to the accepted %s", in.TransferSyntax, strings.Join(offered, ", "))
	}
	var data io.ReadCloser
	var err error
	if ts == in.TransferSyntax {
		data, err = s.opt.Archive.Open(ctx, in)
		if err == nil {
			data, err = reencoded(data, ts) // the data set as stored
		}
	} else {
		data, err = s.tc.Transcode(ctx, in, ts)
	}
	if err != nil {
		return 0, "", s.unsendable(ctx, in, ts, err)
	}
	defer data.Close()
	status, comment, err := t.store(sopClass, in.SOP, ts, data, moveAE, moveID)
	if err != nil {
		return 0, "", linkError{err}
	}
	return status, comment, nil
}

// unsendable words why instance in could not be opened in syntax ts for
// the peer: the reason when it is one (no decoder, data that does not
// decode), else the object is unavailable (the cause to the log).
func (s *Service) unsendable(ctx context.Context, in *archive.Instance, ts string, err error) error {
	var un *archive.UnsupportedError
	switch {
	case errors.As(err, &un):
		return un
	case errors.Is(err, archive.ErrUndecodable):
		return fmt.Errorf("pixel data does not decode: %s", in.TransferSyntax)
	}
	s.log.WarnContext(ctx, "retrieve sub-operation: stored object not opened", "sop", in.SOP, "ts", ts, "err", err)
	return errors.New("stored object unavailable")
}
