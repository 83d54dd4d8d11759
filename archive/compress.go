package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/index"
)

// Compression at ingest: an institution may ask (compress_at_ingest in
// the registry) that the native pixel data it sends be stored compressed
// in a lossless syntax. The compressed object is decoded again before it
// is stored and must give back the received pixels bit for bit; whatever
// stands in the way (no encoder in this build, a file the encoder does
// not take, a mismatch, no saving) stores the file as received, never
// fails the store. The index row keeps what was received (index.Received)
// and so does the object (the ingest block below), so that a re-send of
// the same file is a duplicate and reindex knows it too.

// Compression tells the archive in which lossless transfer syntax the
// party storing an instance wants native pixel data stored (a registry
// institution's compress_at_ingest). The archive knows nothing of
// institutions: recognition implements it.
type Compression interface {
	// CompressAtIngest returns the transfer syntax UID for the storing
	// party (auth.FromContext), or "" to store files as received.
	CompressAtIngest(ctx context.Context) string
}

// Elements of the ingest block (IngestCreator, group 0013) that an object
// compressed at ingest carries in its data set, and its metadata with it.
const (
	// TagIngestReceivedSyntax (UI) is the transfer syntax the file was
	// received in.
	TagIngestReceivedSyntax = "00131010"
	// TagIngestReceivedSize (LO) is the received file's length in bytes.
	TagIngestReceivedSize = "00131011"
	// TagIngestReceivedCRC32C (LO) is its CRC-32C, hex.
	TagIngestReceivedCRC32C = "00131012"
	// TagIngestReceivedDigest (LO) is the SHA-256 of its data set (the
	// bytes after the file meta), hex: what a re-send is compared by.
	TagIngestReceivedDigest = "00131013"
)

// Outcomes of compression at ingest (CompressionStat.Outcome).
const (
	OutcomeCompressed        = "compressed"         // stored compressed
	OutcomeAlreadyCompressed = "already_compressed" // received compressed: stored as received
	OutcomeNotEligible       = "not_eligible"       // no pixel data, or pixel data the encoders do not take
	OutcomeNoEncoder         = "no_encoder"         // this build has no encoder for the syntax asked
	OutcomeEncodeFailed      = "encode_failed"      // the encoder refused a frame
	OutcomeMismatch          = "mismatch"           // the decode differed from the received pixels
	OutcomeNotSmaller        = "not_smaller"        // the compressed object was not smaller
)

var outcomes = []string{OutcomeCompressed, OutcomeAlreadyCompressed, OutcomeNotEligible, OutcomeNoEncoder, OutcomeEncodeFailed, OutcomeMismatch, OutcomeNotSmaller}

// CompressionStat is what compression at ingest did for one transfer
// syntax asked, since start.
type CompressionStat struct {
	Syntax string
	// Instances by outcome (the Outcome constants).
	Instances map[string]uint64
	// BytesIn and BytesOut are the sizes of the files received and of
	// the objects stored, for the instances stored compressed.
	BytesIn, BytesOut uint64
	// Seconds is the time spent encoding and verifying, all outcomes.
	Seconds float64
}

// compressStats counts by syntax; a handful of syntaxes, so a mutex-held
// map of atomic counters.
type compressStats struct {
	mu sync.Mutex
	by map[string]*compressCounters
	// warned: syntaxes whose missing encoder was logged once.
	warned map[string]bool
}

type compressCounters struct {
	outcome           [7]atomic.Uint64 // indexed as outcomes
	bytesIn, bytesOut atomic.Uint64
	nanos             atomic.Int64
}

func (c *compressStats) of(ts string) *compressCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[string]*compressCounters{}
	}
	k := c.by[ts]
	if k == nil {
		k = &compressCounters{}
		c.by[ts] = k
	}
	return k
}

func (k *compressCounters) count(outcome string) {
	for i, o := range outcomes {
		if o == outcome {
			k.outcome[i].Add(1)
		}
	}
}

// firstWarning reports whether this is the first time ts lacks an encoder.
func (c *compressStats) firstWarning(ts string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	if c.warned[ts] {
		return false
	}
	c.warned[ts] = true
	return true
}

// CompressionStats returns what compression at ingest did since start,
// by transfer syntax asked (for the metrics).
func (s *Service) CompressionStats() []CompressionStat {
	s.compress.mu.Lock()
	defer s.compress.mu.Unlock()
	out := make([]CompressionStat, 0, len(s.compress.by))
	for ts, k := range s.compress.by {
		st := CompressionStat{Syntax: ts, Instances: map[string]uint64{}, BytesIn: k.bytesIn.Load(), BytesOut: k.bytesOut.Load(),
			Seconds: time.Duration(k.nanos.Load()).Seconds()}
		for i, o := range outcomes {
			st.Instances[o] = k.outcome[i].Load()
		}
		out = append(out, st)
	}
	return out
}

// compressed is an instance compressed at ingest, ready to be stored.
type compressed struct {
	sp       *spooled
	h        *dcm.Header // of the compressed object
	received *index.Received
}

// compressAtIngest compresses the spooled file when the storing party
// asks for it and it can be done without loss; nil means: store sp as
// received (the reason is counted and, when it is worth a look, logged).
// The caller releases the returned spool.
func (s *Service) compressAtIngest(ctx context.Context, h *dcm.Header, sp *spooled) *compressed {
	if s.opt.Compression == nil {
		return nil
	}
	ts := s.opt.Compression.CompressAtIngest(ctx)
	if ts == "" {
		return nil
	}
	if _, err := s.db.InstanceBySOP(h.SOPUID); err == nil {
		// A re-send: a duplicate or a conflict (Store decides), nothing to
		// compress.
		return nil
	}
	k := s.compress.of(ts)
	enc, okEnc := s.opt.Codecs.Encoder(ts)
	dec, okDec := s.opt.Codecs.Decoder(ts)
	if !okEnc || !okDec {
		k.count(OutcomeNoEncoder)
		if s.compress.firstWarning(ts) {
			s.log.Warn("compression at ingest asked in a syntax this build cannot encode: files are stored as received (build with -tags cgocodecs)",
				"syntax", ts+" ("+dcm.SyntaxName(ts)+")")
		}
		return nil
	}
	start := time.Now()
	defer func() { k.nanos.Add(int64(time.Since(start))) }()
	p, why := s.ingestPlan(h, sp)
	if why != "" {
		if h.Frames.Encapsulated {
			k.count(OutcomeAlreadyCompressed)
		} else {
			k.count(OutcomeNotEligible)
		}
		s.log.Debug("stored as received, not compressed", "sop", h.SOPUID, "why", why)
		return nil
	}
	c, outcome, err := s.compressWith(ctx, h, sp, p, ts, enc, dec)
	k.count(outcome)
	switch {
	case outcome == OutcomeCompressed:
		k.bytesIn.Add(uint64(sp.size))
		k.bytesOut.Add(uint64(c.sp.size))
		return c
	case outcome == OutcomeMismatch || outcome == OutcomeEncodeFailed:
		s.log.Warn("compression at ingest not done: stored as received", "sop", h.SOPUID, "syntax", ts, "outcome", outcome, "err", err)
	default:
		s.log.Debug("stored as received, not compressed", "sop", h.SOPUID, "outcome", outcome, "err", err)
	}
	return nil
}

// ingestPlan is where the pixel data of a received file is and what its
// frames are; why says, when not "", why the file is stored as received.
type ingestPlan struct {
	frame            codec.Frame
	headEnd, tailOff int64 // the pixel data element starts at headEnd; the rest of the data set at tailOff
	implicit         bool
}

func (s *Service) ingestPlan(h *dcm.Header, sp *spooled) (*ingestPlan, string) {
	p := &ingestPlan{implicit: h.TransferSyntax == dcm.ImplicitVRLittleEndian}
	if h.TransferSyntax != dcm.ExplicitVRLittleEndian && !p.implicit {
		return nil, "received in " + dcm.SyntaxName(h.TransferSyntax)
	}
	var pix *dcm.Range
	for i := range h.Bulk {
		if h.Bulk[i].Path == "7FE00010" {
			pix = &h.Bulk[i].Range
		}
	}
	if pix == nil || len(h.Frames.Frames) == 0 {
		return nil, "no pixel data"
	}
	p.frame = frameOf(h.Dataset)
	if err := p.frame.Check(); err != nil {
		return nil, err.Error()
	}
	switch {
	case p.frame.Photometric == "YBR_FULL_422":
		// Subsampled chroma is served as stored only (transcodePlan).
		return nil, "photometric interpretation " + p.frame.Photometric
	case p.frame.Samples == 3 && h.Dataset.String("00280006") != "0" && h.Dataset.String("00280006") != "":
		// Encoders take interleaved samples; re-laying the planes would
		// not give back the received bytes.
		return nil, "colour by plane (PlanarConfiguration 1)"
	}
	// An Icon Image Sequence stays as received, native inside the
	// compressed file, as GDCM's gdcmconv writes it (DCMTK compresses
	// icons too); decoders of the file's pixel data read past it.
	for i, fr := range h.Frames.Frames {
		var n int64
		for _, r := range fr {
			n += r.Length
		}
		if n != int64(p.frame.Size()) {
			return nil, fmt.Sprintf("frame %d holds %d bytes, its attributes say %d", i+1, n, p.frame.Size())
		}
	}
	p.headEnd = pix.Offset - pixelElementHeader
	if p.implicit {
		p.headEnd = pix.Offset - 8
	}
	p.tailOff = pix.Offset + pix.Length
	if p.headEnd < 132 || p.headEnd > maxRewrittenPart || sp.size-p.tailOff > maxRewrittenPart || p.tailOff > sp.size {
		return nil, "too much data around the pixel data"
	}
	return p, ""
}

// frameOf reads what the attributes of a data set say one frame is.
func frameOf(ds dcm.Dataset) codec.Frame {
	get := func(tag string, def int) int {
		if v, ok := ds.Int(tag); ok {
			return v
		}
		return def
	}
	f := codec.Frame{
		Rows: get("00280010", 0), Columns: get("00280011", 0), Samples: get("00280002", 1),
		BitsAllocated: get(tagBitsAllocated, 0), Signed: get("00280103", 0) == 1,
		Photometric: strings.ToUpper(strings.TrimSpace(ds.String("00280004"))),
	}
	f.BitsStored = get("00280101", f.BitsAllocated)
	return f
}

// errMismatch marks a frame whose decode is not the received frame.
var errMismatch = errors.New("the compressed frame does not decode to the received pixels")

// compressWith writes the compressed object (the received data set with
// the file meta's syntax changed, the ingest block added, the pixel data
// encapsulated one fragment per frame, every frame decoded again and
// compared), spooled as a received part is.
func (s *Service) compressWith(ctx context.Context, h *dcm.Header, sp *spooled, p *ingestPlan, ts string, enc codec.Encoder, dec codec.Decoder) (*compressed, string, error) {
	ra := sp.readerAt()
	read := func(off, n int64) ([]byte, error) {
		b := make([]byte, n)
		_, err := ra.ReadAt(b, off)
		if err == io.EOF && n == 0 {
			err = nil
		}
		return b, err
	}
	head, err := read(0, p.headEnd)
	if err != nil {
		return nil, OutcomeEncodeFailed, err
	}
	tag := []byte{0xE0, 0x7F, 0x10, 0x00}
	if end, err := read(p.headEnd, 4); err != nil || !bytes.Equal(end, tag) {
		return nil, OutcomeEncodeFailed, fmt.Errorf("no Pixel Data element at %d", p.headEnd)
	}
	tail, err := read(p.tailOff, sp.size-p.tailOff)
	if err != nil {
		return nil, OutcomeEncodeFailed, err
	}
	if p.implicit {
		// Compressed syntaxes are explicit VR: the data set is re-encoded
		// element for element (dcm.Reencode), as OpenAs does.
		if head, err = explicitHead(head); err != nil {
			return nil, OutcomeEncodeFailed, err
		}
		var t bytes.Buffer
		if err := dcm.Reencode(&t, bytes.NewReader(tail), dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian); err != nil {
			return nil, OutcomeEncodeFailed, err
		}
		tail = t.Bytes()
	}
	digest, err := dataSetDigest(io.NewSectionReader(ra, 0, sp.size))
	if err != nil {
		return nil, OutcomeEncodeFailed, err
	}
	rec := &index.Received{Size: sp.size, CRC32C: sp.sum, TransferSyntax: h.TransferSyntax, DataSetSHA256: digest}
	block := privateBlock(h.Dataset, IngestCreator)
	edit := dcm.HeadEdit{TransferSyntax: ts, Set: receivedElements(block, rec)}
	if ts == codec.JPEG2000Lossless && p.frame.Samples == 3 && p.frame.Photometric == "RGB" {
		// The encoder applies the reversible colour transform (PS3.5
		// 8.2.4: such a codestream is YBR_RCT); the decode gives RGB back.
		edit.Set = append(edit.Set, dcm.RawElement{Tag: dcm.TagPhotometric, VR: "CS", Value: []byte("YBR_RCT ")})
	}
	newHead, err := dcm.RewriteHead(head, edit)
	if err != nil {
		return nil, OutcomeEncodeFailed, err
	}
	newHead = dcm.AppendElementHeader(newHead, dcm.TagPixelData, "OB", 0xFFFFFFFF)
	newHead = append(newHead, 0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0) // an empty Basic Offset Table
	fr := &ingestFrames{ra: ra, frames: h.Frames.Frames, f: p.frame, stored: p.frame, enc: enc, dec: dec}
	if ts == codec.JPEG2000Lossless && p.frame.Samples == 3 && p.frame.Photometric == "RGB" {
		fr.stored.Photometric = "YBR_RCT"
	}
	body := io.MultiReader(bytes.NewReader(newHead), fr, bytes.NewReader([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}), bytes.NewReader(tail))
	csp, err := s.spool(body)
	fail := func(outcome string, err error) (*compressed, string, error) {
		if csp != nil {
			s.release(csp)
		}
		return nil, outcome, err
	}
	switch {
	case errors.Is(err, errMismatch):
		return fail(OutcomeMismatch, err)
	case err != nil:
		return fail(OutcomeEncodeFailed, err)
	case csp.size >= sp.size:
		return fail(OutcomeNotSmaller, fmt.Errorf("%d bytes compressed, %d received", csp.size, sp.size))
	}
	ch, err := dcm.ReadHeader(csp.readerAt(), csp.size, s.limits(ctx))
	if err != nil {
		return fail(OutcomeEncodeFailed, fmt.Errorf("read the compressed object: %w", err))
	}
	// The metadata is the received file's, with the ingest block the
	// object now carries (so that reindex gives the same).
	for _, e := range edit.Set {
		if e.Tag>>16 == 0x0013 {
			ds := fmt.Sprintf("%08X", e.Tag)
			h.Dataset[ds] = &dcm.Element{VR: e.VR, Value: []any{string(bytes.TrimRight(e.Value, " \x00"))}}
		}
	}
	if ts == codec.JPEG2000Lossless && p.frame.Samples == 3 && p.frame.Photometric == "RGB" {
		h.Dataset["00280004"] = &dcm.Element{VR: "CS", Value: []any{"YBR_RCT"}}
	}
	return &compressed{sp: csp, h: ch, received: rec}, OutcomeCompressed, nil
}

// receivedElements are the ingest block's creator and received elements,
// in block, as raw explicit VR values (padded to even lengths).
func receivedElements(block string, r *index.Received) []dcm.RawElement {
	b, _ := strconv.ParseUint(block, 16, 8)
	el := func(tag string, vr, v string) dcm.RawElement {
		t, _ := strconv.ParseUint(tag, 16, 32)
		t = t&0xFFFF00FF | b<<8
		pad := " "
		if vr == "UI" {
			pad = "\x00"
		}
		if len(v)%2 == 1 {
			v += pad
		}
		return dcm.RawElement{Tag: uint32(t), VR: vr, Value: []byte(v)}
	}
	creator := IngestCreator
	if len(creator)%2 == 1 {
		creator += " "
	}
	return []dcm.RawElement{
		{Tag: 0x00130000 | uint32(b), VR: "LO", Value: []byte(creator)},
		el(TagIngestReceivedSyntax, "UI", r.TransferSyntax),
		el(TagIngestReceivedSize, "LO", strconv.FormatInt(r.Size, 10)),
		el(TagIngestReceivedCRC32C, "LO", r.CRC32C),
		el(TagIngestReceivedDigest, "LO", r.DataSetSHA256),
	}
}

// receivedOf reads the received elements of an object compressed at
// ingest back from its data set (reindex); nil when it has none, or when
// the object is native (a file served decoded keeps the block, and is
// then stored as it is received).
func receivedOf(h *dcm.Header) *index.Received {
	if !h.Frames.Encapsulated {
		return nil
	}
	block := ""
	for b := 0x10; b <= 0xFF; b++ {
		k := fmt.Sprintf("%02X", b)
		if h.Dataset.String(tagIngestGroup+"00"+k) == IngestCreator {
			block = k
			break
		}
	}
	if block == "" {
		return nil
	}
	get := func(tag string) string { return h.Dataset.String(tag[:4] + block + tag[6:]) }
	size, err := strconv.ParseInt(get(TagIngestReceivedSize), 10, 64)
	r := &index.Received{Size: size, CRC32C: get(TagIngestReceivedCRC32C), TransferSyntax: get(TagIngestReceivedSyntax), DataSetSHA256: get(TagIngestReceivedDigest)}
	if err != nil || r.TransferSyntax == "" || len(r.DataSetSHA256) != 64 {
		return nil
	}
	return r
}

// dataSetDigest is the SHA-256 (hex) of the data set of a Part 10 file:
// the bytes after its file meta, which names the sender and so differs
// between two sends of one instance.
func dataSetDigest(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if _, err := dcm.SkipFileMeta(br); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := br.WriteTo(h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ingestFrames reads the encapsulated frames of a received file: each
// frame encoded, decoded again and compared with the received bytes, then
// written as an item; one frame in memory at a time.
type ingestFrames struct {
	ra     io.ReaderAt
	frames [][]dcm.Range
	f      codec.Frame // the received frame
	stored codec.Frame // what the stored attributes will say
	enc    codec.Encoder
	dec    codec.Decoder
	next   int
	cur    []byte
}

func (r *ingestFrames) Read(b []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.next == len(r.frames) {
			return 0, io.EOF
		}
		if err := r.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *ingestFrames) advance() error {
	num := r.next + 1
	src := make([]byte, 0, r.f.Size())
	for _, rg := range r.frames[r.next] {
		n := len(src)
		src = src[:n+int(rg.Length)]
		if _, err := r.ra.ReadAt(src[n:], rg.Offset); err != nil {
			return fmt.Errorf("read frame %d: %w", num, err)
		}
	}
	r.next++
	out, err := r.enc.Encode(src, r.f)
	if err != nil {
		return fmt.Errorf("encode frame %d: %w", num, err)
	}
	if img, err := r.dec.Decode(out, r.stored); err != nil {
		return fmt.Errorf("frame %d: %w: %w", num, errMismatch, err)
	} else if !bytes.Equal(img.Pixels, src) {
		return fmt.Errorf("frame %d: %w", num, errMismatch)
	}
	n := len(out) + len(out)%2
	item := make([]byte, 8, 8+n)
	copy(item, []byte{0xFE, 0xFF, 0x00, 0xE0})
	item[4], item[5], item[6], item[7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	item = append(item, out...)
	if len(out)%2 == 1 {
		item = append(item, 0)
	}
	r.cur = item
	return nil
}
