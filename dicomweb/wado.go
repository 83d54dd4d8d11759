package dicomweb

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
)

// uids reads and validates the UIDs named in the path.
func uids(c echo.Context) (study, series, sop string, err error) {
	study, series, sop = c.Param("study"), c.Param("series"), c.Param("sop")
	for _, p := range []struct{ name, v string }{{"study", study}, {"series", series}, {"instance", sop}} {
		if p.v != "" && !dcm.ValidUID(p.v) {
			return "", "", "", badRequest(fmt.Sprintf("%s UID %q is not a valid UID (digits and dots, at most 64 characters)", p.name, p.v))
		}
	}
	return study, series, sop, nil
}

// retrieve answers WADO-RS study, series and instance retrieval as
// multipart/related; type="application/dicom" (PS3.18 10.4): in the
// stored transfer syntax, or in the one asked for when the archive can
// transcode every instance to it (compressed pixel data decoded to
// Explicit VR Little Endian, or encoded by the build's encoders). Each
// part's Content-Type names the syntax it holds; a syntax that cannot be
// produced gets 406 with the reason.
func (h *handlers) retrieve(c echo.Context) error {
	study, series, sop, err := uids(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ins, err := h.svc.Instances(ctx, study, series, sop)
	if err != nil {
		return err
	}
	ts, err := h.negotiateDICOM(c.Request().Header.Get("Accept"), ins)
	if err != nil {
		return err
	}
	open := func(in *archive.Instance) (io.ReadCloser, int64, string, error) {
		if ts == "" || ts == in.TransferSyntax {
			rc, err := h.svc.Open(ctx, in)
			return rc, in.Size, in.TransferSyntax, err
		}
		rc, n, err := h.svc.OpenAs(ctx, in, ts)
		return rc, n, ts, err
	}
	// Open the first object before the status line, so a missing object is
	// a 404 or 503 (and a frame that does not decode a 422), not a
	// truncated 200.
	first, size, syntax, err := open(ins[0])
	if err != nil {
		return err
	}
	noStore(c)
	pw := startMultipart(c.Response(), http.StatusOK, "application/dicom", "")
	for i, in := range ins {
		rc := first
		if i > 0 {
			if rc, size, syntax, err = open(in); err != nil {
				h.log.Error("retrieve aborted", "sop", in.SOP, "err", err)
				return nil // the status is sent; the client sees a truncated body
			}
		}
		err = pw.part("application/dicom; transfer-syntax="+syntax, size, "", rc)
		rc.Close()
		if err != nil {
			return nil
		}
	}
	return pw.close()
}

// negotiateDICOM picks the transfer syntax of a retrieve answer from the
// Accept header: "" for the stored syntax of each instance (*/*, no
// transfer-syntax, or transfer-syntax=*), else the syntax named, when
// every instance is stored in it or can be transcoded to it.
func (h *handlers) negotiateDICOM(accept string, ins []*archive.Instance) (string, error) {
	var why error
	for _, m := range parseAccept(accept) {
		switch m.typ {
		case "*/*", "multipart/*":
			return "", nil
		case "multipart/related":
			t := m.params["type"]
			if t != "" && t != "application/dicom" && t != "*/*" && t != "application/*" {
				continue
			}
			ts := m.params["transfer-syntax"]
			if ts == "" || ts == "*" {
				return "", nil
			}
			if err := h.instancesServable(ins, ts); err != nil {
				why = cmp.Or(why, err)
				continue
			}
			return ts, nil
		}
	}
	msg := fmt.Sprintf("cannot meet Accept %q: instances are served as multipart/related; type=\"application/dicom\" in their stored transfer syntax (%s), or transcoded where this build can; ask with transfer-syntax=*", accept, ins[0].TransferSyntax)
	if why != nil {
		msg += ": " + why.Error()
	}
	return "", notAcceptable(msg)
}

// instancesServable says whether every instance can be served in ts.
func (h *handlers) instancesServable(ins []*archive.Instance, ts string) error {
	for _, in := range ins {
		if in.TransferSyntax == ts {
			continue
		}
		if err := h.svc.ServableInstance(in, ts); err != nil {
			return err
		}
	}
	return nil
}

// metadata answers WADO-RS metadata (PS3.18 10.4.1.1.2) from the DICOM
// JSON precomputed at ingest, with an ETag so viewers can revalidate.
func (h *handlers) metadata(c echo.Context) error {
	study, series, sop, err := uids(c)
	if err != nil {
		return err
	}
	if !wantsJSON(c.Request().Header.Get("Accept")) {
		return notAcceptable("metadata is served as application/dicom+json only")
	}
	v, err := h.svc.MetadataVersion(c.Request().Context(), study, series, sop)
	if err != nil {
		return err
	}
	base := h.base(c)
	sum := sha256.Sum256([]byte(base))
	etag := `"` + strconv.FormatUint(v, 36) + "-" + hex.EncodeToString(sum[:4]) + `"`
	c.Response().Header().Set("ETag", etag)
	noStore(c)
	if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return bufferedAnswer(c, http.StatusOK, mediaDICOMJSON, func(w io.Writer) error {
		return h.svc.WriteMetadata(c.Request().Context(), w, study, series, sop, base)
	})
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// frames answers WADO-RS frame retrieval (PS3.18 10.4.1.1.4) with range
// reads over the frame table recorded at ingest.
func (h *handlers) frames(c echo.Context) error {
	study, series, sop, err := uids(c)
	if err != nil {
		return err
	}
	nums, err := parseFrameList(c.Param("frames"))
	if err != nil {
		return err
	}
	ins, err := h.svc.Instances(c.Request().Context(), study, series, sop)
	if err != nil {
		return err
	}
	return h.framesOf(c, ins[0], nums)
}

// framesOf answers frames nums of an instance (the frames route, and the
// bulk data of encapsulated Pixel Data).
func (h *handlers) framesOf(c echo.Context, in *archive.Instance, nums []int) error {
	study, series, sop := in.Study, in.Series, in.SOP
	ctx := c.Request().Context()
	frames, err := h.svc.Frames(ctx, in, nums)
	if err != nil {
		return err
	}
	media, single, ts, err := h.negotiateFrames(c.Request().Header.Get("Accept"), in, len(frames))
	if err != nil {
		return err
	}
	if frames, err = h.svc.Transcode(in, frames, ts); err != nil {
		return err
	}
	var total int64
	for _, f := range frames {
		if f.Length < 0 { // encoded: bounded by its native size
			total += int64(frameBytes(in))
		}
		total += f.Length
	}
	if total > h.opt.MaxAnswerBytes {
		return answerTooLarge(len(frames), total, h.opt.MaxAnswerBytes)
	}
	first, err := frames[0].Open(ctx)
	if err != nil {
		return err
	}
	noStore(c)
	if single {
		defer first.Close()
		if frames[0].Length >= 0 {
			c.Response().Header().Set("Content-Length", strconv.FormatInt(frames[0].Length, 10))
		}
		if dcm.IsVideo(in.TransferSyntax) || ts != archive.FrameSyntax(in) {
			media += "; transfer-syntax=" + ts // which codec the stream is, or what it was decoded to
		}
		return c.Stream(http.StatusOK, media, first)
	}
	pw := startMultipart(c.Response(), http.StatusOK, media, "transfer-syntax="+ts)
	base := h.base(c) + "/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames/"
	for i, f := range frames {
		rc := first
		if i > 0 {
			if rc, err = f.Open(ctx); err != nil {
				h.log.Error("frames aborted", "sop", sop, "err", err)
				return nil
			}
		}
		err = pw.part(media+"; transfer-syntax="+ts, f.Length, base+strconv.Itoa(f.Number), rc)
		rc.Close()
		if err != nil {
			return nil
		}
	}
	return pw.close()
}

// answerTooLarge refuses, before anything is sent, an answer of n frames
// that would exceed the limit.
func answerTooLarge(n int, size, limit int64) error {
	return badRequest(fmt.Sprintf("the %d frame(s) asked for make %d bytes, more than the %d bytes one answer may hold: ask for fewer frames per request", n, size, limit))
}

// parseFrameList parses "1,3,5" (1-based frame numbers).
func parseFrameList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, badRequest(fmt.Sprintf("frame list %q: frame numbers are positive integers separated by commas", s))
		}
		out = append(out, n)
		if len(out) > 10000 {
			return nil, badRequest("frame list: at most 10000 frames per request")
		}
	}
	return out, nil
}

// frameMedia is the media type of encapsulated frames of a transfer
// syntax (PS3.18 table 8.7.3-2); native frames are application/octet-stream.
func frameMedia(ts string) string {
	switch {
	case ts == "1.2.840.10008.1.2.4.50", ts == "1.2.840.10008.1.2.4.51", ts == "1.2.840.10008.1.2.4.57", ts == "1.2.840.10008.1.2.4.70":
		return "image/jpeg"
	case ts == "1.2.840.10008.1.2.4.80", ts == "1.2.840.10008.1.2.4.81":
		return "image/jls"
	case ts == "1.2.840.10008.1.2.4.90", ts == "1.2.840.10008.1.2.4.91":
		return "image/jp2"
	case ts == "1.2.840.10008.1.2.4.201", ts == "1.2.840.10008.1.2.4.202", ts == "1.2.840.10008.1.2.4.203":
		return "image/jphc" // HTJ2K (PS3.18 table 8.7.3-2)
	case ts == "1.2.840.10008.1.2.5":
		return "image/x-dicom-rle"
	case dcm.IsVideo(ts):
		return dcm.VideoMedia(ts)
	}
	return "application/octet-stream"
}

// videoType reports whether typ names the video of transfer syntax ts:
// its PS3.18 media type (video/mpeg, video/mp4), or the name of its codec
// that some clients ask for (video/mpeg2, video/H264, video/H265).
func videoType(ts, typ string) bool {
	if !dcm.IsVideo(ts) {
		return false
	}
	if strings.EqualFold(typ, dcm.VideoMedia(ts)) {
		return true
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(ts, "1.2.840.10008.1.2.4."), ".")
	switch strings.ToLower(typ) {
	case "video/mpeg2":
		return v == "100" || v == "101"
	case "video/h264":
		return v >= "102" && v <= "106"
	case "video/h265":
		return v == "107" || v == "108"
	}
	return false
}

// negotiateFrames picks the media type and transfer syntax of a frames
// answer. Native frames go as application/octet-stream; encapsulated ones
// as their image type, or as application/octet-stream when the client
// accepts any transfer syntax (transfer-syntax=*), which is what OHIF asks
// for. Encapsulated frames asked for as application/octet-stream in
// Explicit VR Little Endian (named, or the default of PS3.18 8.7.3.5.2
// when no transfer-syntax is given) are decoded; a compressed syntax the
// build has an encoder for is encoded. 406 names what cannot be produced.
func (h *handlers) negotiateFrames(accept string, in *archive.Instance, n int) (media string, single bool, ts string, err error) {
	stored := archive.FrameSyntax(in)
	native := !in.Frames.Encapsulated
	var why error
	// can says whether the frames can be served in syntax want.
	can := func(want string) bool {
		if want == stored {
			return true
		}
		if err := h.svc.Servable(in, want); err != nil {
			why = cmp.Or(why, err)
			return false
		}
		return true
	}
	for _, m := range parseAccept(accept) {
		switch m.typ {
		case "*/*", "multipart/*":
			if native {
				return "application/octet-stream", false, stored, nil
			}
			return frameMedia(stored), false, stored, nil
		case "application/octet-stream":
			if n == 1 && (native || can(dcm.ExplicitVRLittleEndian)) {
				return "application/octet-stream", true, dcm.ExplicitVRLittleEndian, nil
			}
		case "multipart/related":
			t, want := m.params["type"], m.params["transfer-syntax"]
			switch {
			case t == "" || t == "application/octet-stream":
				switch {
				case want == "*":
					return "application/octet-stream", false, stored, nil
				case want == "" || want == dcm.ExplicitVRLittleEndian:
					if can(dcm.ExplicitVRLittleEndian) {
						return "application/octet-stream", false, dcm.ExplicitVRLittleEndian, nil
					}
				case can(want):
					return "application/octet-stream", false, want, nil
				}
			case (t == frameMedia(stored) || videoType(stored, t)) && !native && (want == "" || want == "*" || want == stored):
				return t, false, stored, nil
			case want != "" && want != "*" && t == frameMedia(want) && can(want):
				return t, false, want, nil
			}
		default:
			if !native && (m.typ == frameMedia(stored) || videoType(stored, m.typ)) && n == 1 {
				return m.typ, true, stored, nil
			}
		}
	}
	msg := fmt.Sprintf("cannot meet Accept %q: frames of this instance are %s in transfer syntax %s; ask for multipart/related; type=\"application/octet-stream\"; transfer-syntax=*", accept, frameMedia(stored), stored)
	if why != nil {
		msg += " (" + why.Error() + ")"
	}
	return "", false, "", notAcceptable(msg)
}

// frameBytes is the native size of one frame of in.
func frameBytes(in *archive.Instance) int {
	get := func(tag string, def int) int {
		if v, ok := in.Attrs.Int(tag); ok {
			return v
		}
		return def
	}
	return get("00280010", 0) * get("00280011", 0) * get("00280002", 1) * (get("00280100", 8) / 8)
}

// bulk answers WADO-RS bulk data retrieval for one value recorded at ingest.
func (h *handlers) bulk(c echo.Context) error {
	study, series, sop, err := uids(c)
	if err != nil {
		return err
	}
	path := strings.Trim(c.Param("*"), "/")
	if !archive.ValidBulkPath(path) {
		return badRequest(fmt.Sprintf("bulk data path %q is not a tag path such as 7FE00010", path))
	}
	ctx := c.Request().Context()
	ins, err := h.svc.Instances(ctx, study, series, sop)
	if err != nil {
		return err
	}
	if strings.EqualFold(path, "7FE00010") && ins[0].Frames.Encapsulated {
		// Encapsulated Pixel Data is not one octet stream (its value is
		// items: an offset table and fragments): its bulk data is its
		// frames as stored, one part each naming the transfer syntax
		// (PS3.18 8.7.3.3.2), as the frames route answers them.
		all := make([]int, len(ins[0].Frames.Frames))
		for i := range all {
			all[i] = i + 1
		}
		return h.framesOf(c, ins[0], all)
	}
	rc, n, err := h.svc.Bulk(ctx, ins[0], strings.ToUpper(path))
	if err != nil {
		return err
	}
	defer rc.Close()
	noStore(c)
	for _, m := range parseAccept(c.Request().Header.Get("Accept")) {
		if m.typ == "application/octet-stream" {
			c.Response().Header().Set("Content-Length", strconv.FormatInt(n, 10))
			return c.Stream(http.StatusOK, "application/octet-stream", rc)
		}
		if m.typ == "*/*" || m.typ == "multipart/related" || m.typ == "multipart/*" {
			pw := startMultipart(c.Response(), http.StatusOK, "application/octet-stream", "")
			if err := pw.part("application/octet-stream", n, "", rc); err != nil {
				return nil
			}
			return pw.close()
		}
	}
	return notAcceptable("bulk data is served as application/octet-stream or multipart/related; type=\"application/octet-stream\"")
}
