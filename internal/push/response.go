package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// DICOM JSON keys of the STOW-RS response attributes.
const (
	keyFailureReason  = "00081197"
	keyFailedSOPSeq   = "00081198"
	keyReferencedSeq  = "00081199"
	keyReferencedSOP  = "00081155"
	keyErrorComment   = "00000902"
	maxMessageLength  = 300
	missingFromAnswer = "not listed in the STOW-RS response"
)

// attribute is one DICOM JSON attribute.
type attribute struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// dataset is a DICOM JSON object.
type dataset map[string]attribute

// items decodes the items of a sequence attribute.
func (d dataset) items(key string) []dataset {
	var out []dataset
	for _, raw := range d[key].Value {
		var item map[string]attribute
		if json.Unmarshal(raw, &item) == nil {
			out = append(out, normalise(item))
		}
	}
	return out
}

// str returns the first value of an attribute as a string.
func (d dataset) str(key string) string {
	a := d[key]
	if len(a.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(a.Value[0], &s) == nil {
		return s
	}
	return strings.Trim(string(a.Value[0]), `"`)
}

// normalise upper-cases the tag keys, as servers differ in hex case.
func normalise(m map[string]attribute) dataset {
	d := make(dataset, len(m))
	for k, v := range m {
		d[strings.ToUpper(k)] = v
	}
	return d
}

// parseStowResponse decodes a STOW-RS DICOM JSON answer: an object, or an
// array holding one. ok is false when body is not such JSON.
func parseStowResponse(body []byte) (d dataset, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false
	}
	var obj map[string]attribute
	if json.Unmarshal(body, &obj) == nil {
		d = normalise(obj)
	} else {
		var arr []map[string]attribute
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return nil, false
		}
		d = normalise(arr[0])
	}
	_, hasRef := d[keyReferencedSeq]
	_, hasFailed := d[keyFailedSOPSeq]
	return d, hasRef || hasFailed
}

// mapResponse turns an HTTP answer into one outcome per file. A DICOM JSON
// body listing the instances decides per file; otherwise a 2xx status means
// all stored and any other status all failed with the server's message.
func mapResponse(status int, contentType string, body []byte, files []*file) []outcome {
	d, ok := parseStowResponse(body)
	if !ok {
		if status >= 200 && status < 300 {
			return allStored(len(files))
		}
		return allFailed(len(files), httpReason(status, contentType, body))
	}
	stored := map[string]bool{}
	for _, item := range d.items(keyReferencedSeq) {
		stored[item.str(keyReferencedSOP)] = true
	}
	failed := map[string]string{}
	for _, item := range d.items(keyFailedSOPSeq) {
		// The server's ErrorComment says why in words (which
		// institution a study belongs to, ...): it is the useful part.
		reason := failureReason(item.str(keyFailureReason))
		if c := strings.TrimSpace(item.str(keyErrorComment)); c != "" {
			reason += ": " + c
		}
		failed[item.str(keyReferencedSOP)] = reason
	}
	out := make([]outcome, len(files))
	for i, f := range files {
		switch reason, bad := failed[f.sopUID]; {
		case bad:
			out[i].reason = reason
		case stored[f.sopUID]:
			out[i].stored = true
		default:
			out[i].reason = fmt.Sprintf("%s (HTTP %d)", missingFromAnswer, status)
		}
	}
	return out
}

// allStored returns n stored outcomes.
func allStored(n int) []outcome {
	out := make([]outcome, n)
	for i := range out {
		out[i].stored = true
	}
	return out
}

// failureReason renders a FailureReason code with its meaning (PS3.18
// Table 10.5.3-1 and PS3.7 Annex C).
func failureReason(code string) string {
	n, err := strconv.Atoi(code)
	if err != nil {
		if code == "" {
			return "failed (no FailureReason)"
		}
		return "FailureReason " + code
	}
	meanings := map[int]string{
		0x0110: "processing failure",
		0x0111: "duplicate SOP instance",
		0x0119: "class-instance conflict",
		0x0122: "SOP class not supported",
		0x0124: "not authorized",
		0xA700: "out of resources",
		0xA770: "out of resources: unable to perform sub-operations",
		0xA900: "data set does not match SOP class",
		0xC000: "cannot understand",
		0xC122: "transfer syntax not supported",
	}
	s := fmt.Sprintf("FailureReason %d (0x%04X", n, n)
	if m, ok := meanings[n]; ok {
		s += " " + m
	}
	return s + ")"
}

// httpReason describes a failed HTTP answer with the server's message.
func httpReason(status int, contentType string, body []byte) string {
	msg := strings.TrimSpace(string(body))
	if strings.Contains(contentType, "json") || strings.HasPrefix(msg, "{") {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for _, k := range []string{"message", "error", "detail", "title"} {
				if s, ok := m[k].(string); ok && s != "" {
					msg = s
					break
				}
			}
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > maxMessageLength {
		msg = string(r[:maxMessageLength]) + "…"
	}
	s := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if msg != "" {
		s += ": " + msg
	}
	return s
}
