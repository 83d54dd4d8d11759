package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/dcm"
)

// Transcoding: frames, bulk data and instances served in a transfer
// syntax other than the stored one. Compressed frames are decoded by the
// codec.Set of the build (Options.Codecs) to Explicit VR Little Endian,
// native frames encoded by its encoders; the stored object is never
// changed.

// ErrUndecodable wraps stored pixel data that does not decode (corrupt or
// truncated codestreams, or frames of another size than the attributes
// say). The object stays as it was received.
var ErrUndecodable = errors.New("stored pixel data does not decode")

// Codecs is the codec set the archive transcodes with (nil: none).
func (s *Service) Codecs() *codec.Set { return s.opt.Codecs }

// Decodes reports whether the archive decodes pixel data stored in
// transfer syntax ts (its codec set has a decoder for it): whether OpenAs
// can serve such instances natively.
func (s *Service) Decodes(ts string) bool {
	_, ok := s.opt.Codecs.Decoder(ts)
	return ok
}

// codecFrame reads what the attributes of in say one frame is.
func codecFrame(in *Instance) codec.Frame { return frameOf(in.Attrs) }

// tcPlan is how frames of an instance become another syntax.
type tcPlan struct {
	from, to string
	dec      codec.Decoder // nil when the frames are native
	enc      codec.Encoder // nil when the target is native
	frame    codec.Frame
	// planar is true for native colour-by-plane frames, interleaved first.
	planar bool
}

// transcodePlan says how frames of in are served in syntax to, or why they
// cannot be (an *UnsupportedError naming the reason).
func (s *Service) transcodePlan(in *Instance, to string) (*tcPlan, error) {
	from := FrameSyntax(in)
	p := &tcPlan{from: from, to: to, frame: codecFrame(in)}
	name := func(ts string) string { return ts + " (" + dcm.SyntaxName(ts) + ")" }
	if dcm.IsVideo(from) {
		return nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s is a video in %s: its frames are not decoded; ask with transfer-syntax=*", in.SOP, name(from))}
	}
	if err := p.frame.Check(); err != nil {
		return nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s cannot be transcoded: %v", in.SOP, err)}
	}
	if in.Frames.Encapsulated {
		d, ok := s.opt.Codecs.Decoder(from)
		if !ok {
			return nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s is stored in %s and this build of the gateway has no decoder for it (see /readyz); ask with transfer-syntax=* for the frames as stored", in.SOP, name(from))}
		}
		p.dec = d
	} else {
		if p.frame.Photometric == "YBR_FULL_422" {
			return nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s holds native YBR_FULL_422 frames, which are served as stored only", in.SOP)}
		}
		p.planar = p.frame.Samples == 3 && intAttr(in, "00280006") == 1
	}
	if to != dcm.ExplicitVRLittleEndian {
		e, ok := s.opt.Codecs.Encoder(to)
		if !ok {
			return nil, &UnsupportedError{Reason: fmt.Sprintf("instance %s is stored in %s; this build serves it as stored or decoded to %s, and has no encoder for %s", in.SOP, name(from), name(dcm.ExplicitVRLittleEndian), name(to))}
		}
		p.enc = e
	}
	return p, nil
}

func intAttr(in *Instance, tag string) int {
	v, _ := in.Attrs.Int(tag)
	return v
}

// Servable reports whether the frames of in can be served in syntax ts:
// nil when they are stored so or can be transcoded, else an
// *UnsupportedError saying why not.
func (s *Service) Servable(in *Instance, ts string) error {
	if ts == FrameSyntax(in) {
		return nil
	}
	_, err := s.transcodePlan(in, ts)
	return err
}

// Transcode returns frames of in (from Frames) with their bytes in
// transfer syntax ts: as they are when that is their syntax, else decoded
// (through a bounded cache of decoded frames) and, for a compressed ts,
// encoded. Decoded frames have their native length; encoded ones Length
// -1 (known once encoded). Opening a frame that does not decode fails
// with ErrUndecodable, one whose codec lacks a feature with an
// *UnsupportedError; the work is done when the frame is opened.
func (s *Service) Transcode(in *Instance, frames []*Frame, ts string) ([]*Frame, error) {
	if ts == FrameSyntax(in) {
		return frames, nil
	}
	p, err := s.transcodePlan(in, ts)
	if err != nil {
		return nil, err
	}
	out := make([]*Frame, len(frames))
	for i, f := range frames {
		length := int64(p.frame.Size())
		if p.enc != nil {
			length = -1
		}
		out[i] = &Frame{Number: f.Number, Length: length, TransferSyntax: ts,
			open: func(ctx context.Context) (io.ReadCloser, error) {
				b, _, err := s.transcodeFrame(ctx, in, p, f)
				if err != nil {
					return nil, err
				}
				return io.NopCloser(bytes.NewReader(b)), nil
			}}
	}
	return out, nil
}

// Decoded returns frame f of in (from Frames) as native pixels, samples
// interleaved, through the decoded-frame cache, with the photometric
// interpretation of the decoded samples (RGB after a colour transform).
// For rendering: /rendered and /thumbnail of the same frame, in any
// window, decode it once.
func (s *Service) Decoded(ctx context.Context, in *Instance, f *Frame) ([]byte, string, error) {
	p, err := s.transcodePlan(in, dcm.ExplicitVRLittleEndian)
	if err != nil {
		return nil, "", err
	}
	return s.nativeFrame(ctx, in, p, f)
}

// transcodeFrame returns the bytes of frame f in p.to and the photometric
// interpretation of the native pixels they hold.
func (s *Service) transcodeFrame(ctx context.Context, in *Instance, p *tcPlan, f *Frame) ([]byte, string, error) {
	pixels, photometric, err := s.nativeFrame(ctx, in, p, f)
	if err != nil || p.enc == nil {
		return pixels, photometric, err
	}
	fr := p.frame
	fr.Photometric = photometric
	b, err := p.enc.Encode(pixels, fr)
	if err != nil {
		return nil, "", fmt.Errorf("encode %s frame %d in %s: %w", in.SOP, f.Number, p.to, err)
	}
	return b, photometric, nil
}

// nativeFrame returns frame f as interleaved native pixels, decoded when
// stored compressed (from the decoded-frame cache when it is there).
func (s *Service) nativeFrame(ctx context.Context, in *Instance, p *tcPlan, f *Frame) ([]byte, string, error) {
	key := fmt.Sprintf("%s\x00%d", in.Key, f.Number)
	if p.dec != nil {
		if b, ph, ok := s.decoded.get(key); ok {
			return b, ph, nil
		}
	}
	rc, err := f.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	src := make([]byte, f.Length)
	if _, err := io.ReadFull(rc, src); err != nil {
		return nil, "", mapStoreErr(fmt.Errorf("read %s frame %d: %w", in.SOP, f.Number, err))
	}
	if p.dec == nil {
		if p.planar {
			src = interleave(src, p.frame)
		}
		return src, p.frame.Photometric, nil
	}
	// Decodes take a slot, so that memory stays flat under many requests
	// (each holds a compressed and a decoded frame).
	select {
	case s.decodeSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	img, err := p.dec.Decode(src, p.frame)
	<-s.decodeSlots
	switch {
	case errors.Is(err, codec.ErrUnsupported):
		return nil, "", &UnsupportedError{Reason: fmt.Sprintf("frame %d of instance %s (%s): %v", f.Number, in.SOP, dcm.SyntaxName(p.from), err)}
	case err != nil:
		return nil, "", fmt.Errorf("frame %d of instance %s (%s): %w: %w", f.Number, in.SOP, dcm.SyntaxName(p.from), ErrUndecodable, err)
	case len(img.Pixels) != p.frame.Size():
		return nil, "", fmt.Errorf("frame %d of instance %s (%s): %w: decoded to %d bytes, the attributes say %d", f.Number, in.SOP, dcm.SyntaxName(p.from), ErrUndecodable, len(img.Pixels), p.frame.Size())
	}
	if img.Photometric == "" {
		img.Photometric = p.frame.Photometric
	}
	s.decoded.put(key, img.Pixels, img.Photometric)
	return img.Pixels, img.Photometric, nil
}

// interleave turns colour-by-plane native samples into colour-by-pixel.
func interleave(b []byte, f codec.Frame) []byte {
	bps := f.BitsAllocated / 8
	n := f.Rows * f.Columns
	out := make([]byte, len(b))
	for s := range 3 {
		for i := range n {
			copy(out[(3*i+s)*bps:(3*i+s+1)*bps], b[(s*n+i)*bps:(s*n+i+1)*bps])
		}
	}
	return out
}
