package archive

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/imgcloud/gateway/dcm"
)

// maxRewrittenPart bounds the data set bytes before and after the pixel
// data that instance transcoding holds in memory.
const maxRewrittenPart = 64 << 20

// pixelElementHeader is the Explicit VR Little Endian header of OB or OW
// Pixel Data: tag, VR, two reserved bytes, a 4-byte length.
const pixelElementHeader = 12

// OpenAs opens instance in as a Part 10 file in transfer syntax ts, and
// returns its length (-1 when not known before it is written: encoded
// pixel data). For the stored syntax it is Open. Otherwise the data set is
// the stored one, element for element, with the pixel data decoded (and
// encoded for a compressed ts), the file meta's TransferSyntaxUID changed,
// PhotometricInterpretation changed when the decode changes it (YBR to
// RGB), PlanarConfiguration 0 (decoders interleave), the Extended Offset
// Table and the Icon Image Sequence left out, and Lossy Image Compression
// kept as stored; an Implicit VR data set becomes Explicit VR
// (dcm.Reencode), with or without pixel data. Instances that are not
// transcoded (pixel data in a big endian or deflated file, video, no pixel
// data and a syntax dcm.Reencode does not convert to) are an
// *UnsupportedError saying so. The first frame is
// transcoded before OpenAs returns, so that data which does not decode is
// an error (ErrUndecodable) before any byte is sent; a later frame that
// fails cuts the stream.
func (s *Service) OpenAs(ctx context.Context, in *Instance, ts string) (io.ReadCloser, int64, error) {
	if ts == in.TransferSyntax {
		rc, err := s.Open(ctx, in)
		return rc, in.Size, err
	}
	pix, p, err := s.instancePlan(in, ts)
	if err != nil {
		return nil, 0, err
	}
	if pix == nil {
		return s.reencoded(ctx, in, ts)
	}
	implicit := in.TransferSyntax == dcm.ImplicitVRLittleEndian
	headEnd := pix.Offset - pixelElementHeader
	if implicit {
		headEnd = pix.Offset - 8 // tag and length
	}
	tailStart := pix.Offset + pix.Length
	if in.Frames.Encapsulated {
		tailStart += 8 // the sequence delimiter
	}
	if headEnd < 132 || headEnd > maxRewrittenPart || in.Size-tailStart > maxRewrittenPart || tailStart > in.Size {
		return nil, 0, &UnsupportedError{Reason: fmt.Sprintf("instance %s: its data set around the pixel data is not transcoded (%d bytes before, %d after)", in.SOP, headEnd, in.Size-tailStart)}
	}
	head, err := s.readAll(ctx, in, 0, pix.Offset)
	if err != nil {
		return nil, 0, err
	}
	if tag := head[headEnd : headEnd+4]; !bytes.Equal(tag, []byte{0xE0, 0x7F, 0x10, 0x00}) {
		return nil, 0, fmt.Errorf("instance %s: no Pixel Data element where the index says (%d): %w", in.SOP, headEnd, ErrUndecodable)
	}
	tail, err := s.readAll(ctx, in, tailStart, in.Size-tailStart)
	if err != nil {
		return nil, 0, err
	}
	head = head[:headEnd]
	if implicit {
		// The data set becomes Explicit VR (every other syntax the
		// gateway writes is), element for element (dcm.Reencode).
		if head, err = explicitHead(head); err != nil {
			return nil, 0, fmt.Errorf("transcode %s: %w", in.SOP, err)
		}
		var t bytes.Buffer
		if err := dcm.Reencode(&t, bytes.NewReader(tail), dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian); err != nil {
			return nil, 0, fmt.Errorf("transcode %s: %w", in.SOP, err)
		}
		tail = t.Bytes()
	}
	all := make([]int, len(in.Frames.Frames))
	for i := range all {
		all[i] = i + 1
	}
	stored, err := s.Frames(ctx, in, all)
	if err != nil {
		return nil, 0, err
	}
	first, photometric, err := s.transcodeFrame(ctx, in, p, stored[0])
	if err != nil {
		return nil, 0, err
	}
	// The icon goes too: encoders compress it in the file's syntax (PS3.5
	// 8.2), and it is a thumbnail of the pixel data, not information.
	edit := dcm.HeadEdit{TransferSyntax: ts, Drop: []uint32{dcm.TagIconImageSequence, dcm.TagExtendedOffsetTable, dcm.TagExtendedOffsetLens}}
	if photometric != p.frame.Photometric {
		edit.Set = append(edit.Set, dcm.RawElement{Tag: dcm.TagPhotometric, VR: "CS", Value: []byte(photometric)})
	}
	if p.frame.Samples == 3 {
		edit.Set = append(edit.Set, dcm.RawElement{Tag: dcm.TagPlanarConfiguration, VR: "US", Value: []byte{0, 0}})
	}
	newHead, err := dcm.RewriteHead(head, edit)
	if err != nil {
		return nil, 0, fmt.Errorf("transcode %s: %w", in.SOP, err)
	}
	fr := &frameStream{ctx: ctx, s: s, in: in, p: p, frames: stored, first: first}
	size := int64(-1)
	if p.enc == nil {
		vr := "OB"
		if p.frame.BitsAllocated > 8 {
			vr = "OW"
		}
		total := int64(p.frame.Size()) * int64(len(stored))
		fr.pad = total%2 == 1
		if fr.pad {
			total++
		}
		newHead = dcm.AppendElementHeader(newHead, dcm.TagPixelData, vr, uint32(total))
		size = int64(len(newHead)) + total + int64(len(tail))
	} else {
		// Encapsulated: an empty Basic Offset Table, one fragment per frame
		// (PS3.5 A.4), the sequence delimiter after the last.
		newHead = dcm.AppendElementHeader(newHead, dcm.TagPixelData, "OB", 0xFFFFFFFF)
		newHead = append(newHead, 0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0)
		fr.encapsulated = true
	}
	return &multiCloser{Reader: io.MultiReader(bytes.NewReader(newHead), fr, bytes.NewReader(tail))}, size, nil
}

// ServableInstance reports whether OpenAs can open in in syntax ts: nil
// when it can, else an *UnsupportedError saying why not.
func (s *Service) ServableInstance(in *Instance, ts string) error {
	if ts == in.TransferSyntax {
		return nil
	}
	_, _, err := s.instancePlan(in, ts)
	return err
}

// instancePlan finds the pixel data of in and the plan of its frames.
func (s *Service) instancePlan(in *Instance, ts string) (*dcm.Range, *tcPlan, error) {
	var pix *dcm.Range
	for i := range in.Bulk {
		if in.Bulk[i].Path == "7FE00010" {
			pix = &in.Bulk[i].Range
		}
	}
	switch {
	case (len(in.Frames.Frames) == 0 || pix == nil) && dcm.CanReencode(in.TransferSyntax, ts) && in.Size <= maxRewrittenPart:
		return nil, nil, nil // no pixel data: the data set is re-encoded
	case len(in.Frames.Frames) == 0 || pix == nil:
		return nil, nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s has no pixel data to transcode: it is served in its stored transfer syntax %s only", in.SOP, in.TransferSyntax)}
	case in.Frames.Deflated || in.TransferSyntax == dcm.ExplicitVRBigEndian:
		return nil, nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s is stored in %s: its data set is served as stored only (its frames can be asked for in %s)", in.SOP, dcm.SyntaxName(in.TransferSyntax), ts)}
	}
	p, err := s.transcodePlan(in, ts)
	return pix, p, err
}

// reencoded is instance in, which has no pixel data, re-encoded in ts.
func (s *Service) reencoded(ctx context.Context, in *Instance, ts string) (io.ReadCloser, int64, error) {
	b, err := s.readAll(ctx, in, 0, in.Size)
	if err != nil {
		return nil, 0, err
	}
	br := bytes.NewReader(b)
	r := bufio.NewReader(br)
	if _, err := dcm.SkipFileMeta(r); err != nil {
		return nil, 0, fmt.Errorf("re-encode %s: %w", in.SOP, err)
	}
	metaEnd := len(b) - br.Len() - r.Buffered()
	var out bytes.Buffer
	if err := dcm.Reencode(&out, r, in.TransferSyntax, ts); err != nil {
		return nil, 0, fmt.Errorf("re-encode %s: %w", in.SOP, err)
	}
	head, err := dcm.RewriteHead(b[:metaEnd], dcm.HeadEdit{TransferSyntax: ts})
	if err != nil {
		return nil, 0, fmt.Errorf("re-encode %s: %w", in.SOP, err)
	}
	head = append(head, out.Bytes()...)
	return io.NopCloser(bytes.NewReader(head)), int64(len(head)), nil
}

// explicitHead re-encodes the head of an Implicit VR Little Endian file
// (preamble, file meta, data set elements) in Explicit VR Little Endian;
// the file meta, always explicit, is kept as it is (RewriteHead changes
// its transfer syntax).
func explicitHead(head []byte) ([]byte, error) {
	br := bytes.NewReader(head)
	r := bufio.NewReader(br)
	if _, err := dcm.SkipFileMeta(r); err != nil {
		return nil, err
	}
	metaEnd := len(head) - br.Len() - r.Buffered()
	out := bytes.NewBuffer(append(make([]byte, 0, len(head)+len(head)/8), head[:metaEnd]...))
	if err := dcm.Reencode(out, r, dcm.ImplicitVRLittleEndian, dcm.ExplicitVRLittleEndian); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// readAll reads n bytes at off of the stored object.
func (s *Service) readAll(ctx context.Context, in *Instance, off, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	rc, err := s.store.Get(ctx, in.Key, off, n)
	if err != nil {
		return nil, mapStoreErr(fmt.Errorf("read %s: %w", in.SOP, err))
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, mapStoreErr(fmt.Errorf("read %s: %w", in.SOP, err))
	}
	return b, nil
}

// frameStream reads the transcoded frames of an instance one after the
// other, each transcoded when the one before it is read: one frame is in
// memory at a time.
type frameStream struct {
	ctx          context.Context
	s            *Service
	in           *Instance
	p            *tcPlan
	frames       []*Frame
	first        []byte // frame 1, transcoded by OpenAs
	next         int    // index of the next frame
	cur          []byte // the rest of the piece being read
	pad          bool   // a native value of odd length gets one zero byte
	encapsulated bool   // each frame an item; the delimiter at the end
	done         bool
}

func (f *frameStream) Read(b []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if err := f.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(b, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

// advance loads the next piece: a frame (as an item when encapsulated),
// the padding, or the sequence delimiter.
func (f *frameStream) advance() error {
	if f.next >= len(f.frames) {
		f.done = true
		switch {
		case f.encapsulated:
			f.cur = []byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}
		case f.pad:
			f.cur = []byte{0}
		}
		return nil
	}
	b := f.first
	f.first = nil
	f.next++
	if b == nil {
		var err error
		if b, _, err = f.s.transcodeFrame(f.ctx, f.in, f.p, f.frames[f.next-1]); err != nil {
			f.s.log.Error("transcoded instance cut", "sop", f.in.SOP, "frame", f.next, "err", err)
			return err
		}
	}
	if f.encapsulated {
		item := []byte{0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0}
		n := len(b) + len(b)%2
		item[4], item[5], item[6], item[7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		b = append(item, b...)
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
	}
	f.cur = b
	return nil
}
