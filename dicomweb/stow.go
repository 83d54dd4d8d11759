package dicomweb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/guard"
	"github.com/imgcloud/gateway/httpapi/respond"
	"github.com/imgcloud/gateway/internal/idleread"
	"github.com/imgcloud/gateway/internal/mpart"
)

// stow answers STOW-RS (PS3.18 10.5): it streams the multipart/related
// body part by part into the archive and answers with the Store Instances
// Response (ReferencedSOPSequence, FailedSOPSequence).
func (h *handlers) stow(c echo.Context) error {
	study := c.Param("study")
	if study != "" && !dcm.ValidUID(study) {
		return badRequest(fmt.Sprintf("study UID %q in the URL is not a valid UID", study))
	}
	if !wantsJSON(c.Request().Header.Get("Accept")) {
		return notAcceptable("STOW-RS answers in application/dicom+json only")
	}
	boundary, err := stowBoundary(c.Request().Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(c.Response(), c.Request().Body, h.opt.MaxRequestBytes)
	// A large buffer: fewer read system calls, and whole delimiters found
	// in one search.
	mr := mpart.NewReader(bufio.NewReaderSize(body, 256<<10), boundary)
	ctx := c.Request().Context()

	var stored []*archive.Stored
	var failed []*archive.StoreError
	var reqErr error
	parts := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			reqErr = bodyError(err, parts)
			break
		}
		if parts == h.opt.MaxStowParts {
			// The rest is not read: the answer (one item per part) and the
			// work stay bounded whatever the body holds.
			reqErr = respond.TooLarge(fmt.Sprintf(
				"the request holds more than %d parts, the most one STOW request may hold: parts after part %d were not read; send them in another request",
				h.opt.MaxStowParts, parts))
			break
		}
		parts++
		if ct := part.Header.Get("Content-Type"); ct != "" && !isDICOMPart(ct) {
			failed = append(failed, &archive.StoreError{Reason: archive.ReasonCannotUnderstand,
				Err: fmt.Errorf("part %d has Content-Type %q; application/dicom was expected", parts, ct)})
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		st, err := h.svc.Store(ctx, part, study)
		var se *archive.StoreError
		switch {
		case err == nil:
			stored = append(stored, st)
		case errors.As(err, &se):
			h.log.Info("instance refused", "sop", se.SOP, "reason", se.Reason, "err", se.Err)
			failed = append(failed, se)
		default:
			reqErr = err
		}
		if reqErr != nil {
			break
		}
	}
	// What was stored is made durable even if the request then failed,
	// and even if the client is gone: net/http cancels the request's
	// context when a body read fails.
	if len(stored) > 0 {
		if err := h.svc.Commit(context.WithoutCancel(ctx), stored); err != nil {
			return err
		}
	}
	noteCompressed(c, stored)
	if reqErr != nil {
		if len(stored) == 0 && len(failed) == 0 {
			return reqErr
		}
		// Parts were handled before the request failed: the answer says
		// which instances are stored, which failed, and why the rest was
		// not read, with the status of the failure.
		code := respond.Status(reqErr)
		h.log.Warn("STOW request cut", "status", code, "stored", len(stored), "failed", len(failed), "err", reqErr)
		failed = append(failed, cutItem(reqErr, code))
		respond.Headers(c.Response().Header(), reqErr, code)
		return writeDICOMJSON(c, code, h.stowResponse(c, study, stored, failed))
	}
	if parts == 0 {
		return badRequest("the multipart body holds no parts: send one application/dicom part per instance")
	}
	return writeDICOMJSON(c, stowStatus(len(stored), len(failed)), h.stowResponse(c, study, stored, failed))
}

// noteCompressed tells the request's audit event how many instances were
// stored compressed at ingest, and in which syntaxes; the answer is the
// same as for any store.
func noteCompressed(c echo.Context, stored []*archive.Stored) {
	n, syntaxes := 0, []string{}
	for _, st := range stored {
		if st.Compressed != "" && !st.Duplicate {
			n++
			if !slices.Contains(syntaxes, st.Compressed) {
				syntaxes = append(syntaxes, st.Compressed)
			}
		}
	}
	if n > 0 {
		guard.SetNote(c, guard.Note{Detail: fmt.Sprintf("%d of %d instance(s) stored compressed at ingest in %s", n, len(stored), strings.Join(syntaxes, ", "))})
	}
}

// cutItem is the FailedSOPSequence item for the part a STOW request failed
// at, standing for it and every part after it. Server-side details stay
// in the log, as in respond.Handler.
func cutItem(err error, code int) *archive.StoreError {
	msg := err.Error()
	var reason uint16 = archive.ReasonProcessingFailure
	switch {
	case code == http.StatusServiceUnavailable:
		msg = "storage unavailable, retry later"
		reason = archive.ReasonOutOfResources
	case code >= 500:
		msg = "internal error"
	case code == http.StatusRequestEntityTooLarge:
		reason = archive.ReasonOutOfResources
	}
	return &archive.StoreError{Reason: reason, Err: fmt.Errorf("%s; this part and those after it were not stored (the instances in ReferencedSOPSequence were)", msg)}
}

// stowStatus picks the status of a STOW-RS answer (PS3.18 10.5.3).
func stowStatus(stored, failed int) int {
	switch {
	case failed == 0:
		return http.StatusOK
	case stored == 0:
		return http.StatusConflict
	default:
		return http.StatusAccepted
	}
}

func stowBoundary(ct string) (string, error) {
	if ct == "" {
		return "", unsupportedMedia("Content-Type is missing: send multipart/related; type=\"application/dicom\"")
	}
	mt, params, err := parseMediaType(ct)
	if err != nil {
		return "", unsupportedMedia(fmt.Sprintf("Content-Type %q cannot be parsed: %v", ct, err))
	}
	if mt != "multipart/related" {
		return "", unsupportedMedia(fmt.Sprintf("Content-Type %s is not accepted: send multipart/related; type=\"application/dicom\"", mt))
	}
	if t := params["type"]; t != "" && !isDICOMPart(t) {
		return "", unsupportedMedia(fmt.Sprintf("multipart/related type %q is not supported: only application/dicom parts are", t))
	}
	b := params["boundary"]
	if b == "" {
		return "", badRequest("multipart/related Content-Type has no boundary parameter")
	}
	return b, nil
}

func isDICOMPart(ct string) bool {
	mt, _, err := parseMediaType(ct)
	return err == nil && mt == "application/dicom"
}

func bodyError(err error, parts int) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("request body larger than the %d bytes allowed: %w", mbe.Limit, err)
	}
	if errors.Is(err, idleread.ErrIdle) {
		return fmt.Errorf("the request body stopped arriving: %w", err)
	}
	if parts == 0 && errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("the body is empty or does not start with the multipart boundary")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("broken multipart body: it ends before the closing boundary")
	}
	if errors.Is(err, mpart.ErrFormat) {
		return badRequest(err.Error())
	}
	return badRequest("broken multipart body: " + err.Error())
}

// commentBudget is how many bytes of ErrorComment one answer holds in full.
const commentBudget = 64 << 10

// stowResponse builds the Store Instances Response data set.
func (h *handlers) stowResponse(c echo.Context, study string, stored []*archive.Stored, failed []*archive.StoreError) dcm.Dataset {
	base := h.base(c)
	out := dcm.Dataset{}
	if study == "" && len(stored) > 0 {
		study = stored[0].Study
		for _, s := range stored {
			if s.Study != study {
				study = ""
				break
			}
		}
	}
	if study != "" {
		out["00081190"] = &dcm.Element{VR: "UR", Value: []any{base + "/studies/" + study}}
	}
	if len(stored) > 0 {
		items := make([]any, 0, len(stored))
		for _, s := range stored {
			items = append(items, dcm.Dataset{
				"00081150": {VR: "UI", Value: []any{s.SOPClass}},
				"00081155": {VR: "UI", Value: []any{s.SOP}},
				"00081190": {VR: "UR", Value: []any{base + "/studies/" + s.Study + "/series/" + s.Series + "/instances/" + s.SOP}},
			})
		}
		out["00081199"] = &dcm.Element{VR: "SQ", Value: items}
	}
	if len(failed) > 0 {
		items := make([]any, 0, len(failed))
		budget := commentBudget
		for i, f := range failed {
			// ErrorComment: why, in words a person understands; after
			// commentBudget bytes of them, cut to the 64 characters of LO,
			// so the answer stays small whatever the parts. The last
			// (why a cut request stopped) is kept whole.
			n := 1024
			if budget <= 0 && i < len(failed)-1 {
				n = 64
			}
			comment := truncate(f.Err.Error(), n)
			budget -= len(comment)
			item := dcm.Dataset{
				"00081197": {VR: "US", Value: []any{float64(f.Reason)}},
				"00000902": {VR: "LO", Value: []any{comment}},
			}
			if f.SOP != "" {
				item["00081155"] = &dcm.Element{VR: "UI", Value: []any{f.SOP}}
			}
			if f.SOPClass != "" {
				item["00081150"] = &dcm.Element{VR: "UI", Value: []any{f.SOPClass}}
			}
			items = append(items, item)
		}
		out["00081198"] = &dcm.Element{VR: "SQ", Value: items}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
