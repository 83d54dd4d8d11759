package dicomweb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/dcm"
)

const mediaDICOMJSON = "application/dicom+json"

// The federation scope of a study search (GET {root}/studies), read only
// when Options.Searcher is set; package federation resolves it.
const (
	// FederationParam is the query parameter: "all" (or "true") for every
	// peer, or peer names separated by commas.
	FederationParam = "federation"
	// HeaderFederationScope is the same as a header; the parameter wins.
	HeaderFederationScope = "X-Federation-Scope"
)

// moreResults is the Warning PS3.18 asks for when results beyond the
// limit exist.
const moreResults = `299 gateway "There are additional results that can be requested"`

// HeaderTotalCount carries the total number of matches of a QIDO-RS
// search, whatever limit and offset, when the request asks with
// "Prefer: count=exact" (the preference PostgREST reads; dcm4chee's
// COUNT-RS answers the same number at .../count).
const HeaderTotalCount = "X-Total-Count"

// prefersCount reports whether a request's Prefer header asks for the
// total count ("count=exact", or "count" alone).
func prefersCount(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if strings.EqualFold(strings.TrimSpace(name), "count") && (val == "" || strings.EqualFold(strings.Trim(strings.TrimSpace(val), `"`), "exact")) {
				return true
			}
		}
	}
	return false
}

// qido answers QIDO-RS searches (PS3.18 10.6) at one level.
func (h *handlers) qido(level archive.Level) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !wantsJSON(c.Request().Header.Get("Accept")) {
			return notAcceptable("QIDO-RS answers in application/dicom+json only")
		}
		params, scope := c.QueryParams(), archive.Scope{}
		if level == archive.LevelStudy && h.opt.Searcher != nil {
			if params, scope = federationScope(c.Request(), params); scope.Federated {
				scope.Base = h.base(c)
			}
		}
		q, err := parseQuery(level, params)
		if err != nil {
			return err
		}
		for _, p := range []struct{ name, v string }{{"study", c.Param("study")}, {"series", c.Param("series")}} {
			if p.v != "" && !dcm.ValidUID(p.v) {
				return badRequest(fmt.Sprintf("%s UID %q in the URL is not a valid UID", p.name, p.v))
			}
		}
		q.Study, q.Series = c.Param("study"), c.Param("series")
		// A federated total would be this gateway's alone: not counted.
		q.Count = !scope.Federated && prefersCount(c.Request().Header)
		// The archive encodes its own answers (from its cache of encoded
		// studies); a federated answer is merged from data sets.
		q.Encoded = !scope.Federated
		res, err := h.search.Search(c.Request().Context(), q, scope)
		if err != nil {
			return err
		}
		hd := c.Response().Header()
		if res.Counted {
			hd.Set(HeaderTotalCount, strconv.Itoa(res.Total))
			hd.Set("Preference-Applied", "count=exact")
		}
		if res.More {
			hd.Add("Warning", moreResults)
		}
		if len(res.Ignored) > 0 {
			hd.Add("Warning", fmt.Sprintf(`299 gateway "The following attributes are not supported for matching at this level and were ignored: %s"`, strings.Join(res.Ignored, ", ")))
		}
		for _, w := range res.Warnings {
			hd.Add("Warning", w)
		}
		noStore(c)
		defer res.Release()
		return h.writeResults(c, res, h.base(c))
	}
}

// writeResults writes the answer's JSON array as it encodes it, one
// result at a time (an answer of thousands of studies is never held
// whole): this gateway's results (data sets, or the archive's own
// encoding of them), with base in place of the placeholder,
// then the other gateways' as they came (their URLs are set already and
// are not this gateway's to rewrite). An error after the first bytes cuts
// the answer short, which a client sees as invalid JSON.
func (h *handlers) writeResults(c echo.Context, res *archive.Result, base string) error {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, mediaDICOMJSON)
	w.WriteHeader(http.StatusOK)
	// Writers are reused: a new 64 KB one per answer was a fifth of what
	// a QIDO request allocated.
	bw, _ := h.writers.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	bw.Reset(w)
	defer func() {
		bw.Reset(io.Discard)
		h.writers.Put(bw)
	}()
	buf := make([]byte, 0, 4096)
	ph, root := []byte(archive.BasePlaceholder), []byte(base)
	bw.WriteByte('[')
	n := 0
	// write writes one of this gateway's answers; false: the client went
	// away.
	write := func(js []byte) bool {
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		rest := js
		for {
			i := bytes.Index(rest, ph)
			if i < 0 {
				break
			}
			bw.Write(rest[:i])
			bw.Write(root)
			rest = rest[i+len(ph):]
		}
		_, err := bw.Write(rest)
		return err == nil
	}
	for _, it := range res.Items {
		var err error
		if buf, err = it.AppendJSON(buf[:0]); err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		if !write(buf) {
			return nil
		}
	}
	for _, js := range res.Encoded {
		if !write(js) {
			return nil
		}
	}
	for _, r := range res.Remote {
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		bw.Write(r)
	}
	bw.WriteByte(']')
	_ = bw.Flush()
	return nil
}

// federationScope reads a study search's federation scope: the
// federation parameter, or else the X-Federation-Scope header. It returns
// the parameters without it (a copy: peers are asked with them while the
// local search runs).
func federationScope(r *http.Request, v url.Values) (url.Values, archive.Scope) {
	spec, inQuery := v.Get(FederationParam), v.Has(FederationParam)
	if !inQuery {
		spec = r.Header.Get(HeaderFederationScope)
	}
	if !inQuery && spec == "" {
		return v, archive.Scope{}
	}
	rest := make(url.Values, len(v))
	for k, vs := range v {
		if k != FederationParam {
			rest[k] = append([]string(nil), vs...)
		}
	}
	return rest, archive.Scope{Federated: true, Peers: spec, Params: rest}
}

// parseQuery turns QIDO-RS query parameters into an archive.Query: keys are
// keywords or tags; includefield, limit, offset and fuzzymatching are
// control parameters. Unknown attributes are refused with 400.
func parseQuery(level archive.Level, v url.Values) (archive.Query, error) {
	q := archive.Query{Level: level}
	for key, vals := range v {
		switch key {
		case "limit", "offset":
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 {
				return q, badRequest(fmt.Sprintf("%s=%q is not a non-negative integer", key, vals[0]))
			}
			if key == "limit" {
				q.Limit = n
			} else {
				q.Offset = n
			}
		case "fuzzymatching":
			switch strings.ToLower(vals[0]) {
			case "true":
				q.Fuzzy = true
			case "false", "":
			default:
				return q, badRequest(fmt.Sprintf("fuzzymatching=%q must be true or false", vals[0]))
			}
		case "includefield":
			for _, val := range vals {
				for _, f := range strings.Split(val, ",") {
					f = strings.TrimSpace(f)
					if f == "" {
						continue
					}
					if f == "all" {
						q.IncludeAll = true
						continue
					}
					tag, err := resolveTag(f)
					if err != nil {
						return q, err
					}
					q.Include = append(q.Include, tag)
				}
			}
		default:
			tag, err := resolveTag(key)
			if err != nil {
				return q, err
			}
			for _, val := range vals {
				q.Params = append(q.Params, archive.Param{Tag: tag, Value: val})
			}
		}
	}
	return q, nil
}

// resolveTag accepts a keyword ("PatientName") or a tag ("00100010").
// Sequence paths ("00400275.00321060") are refused as unsupported.
func resolveTag(s string) (string, error) {
	if strings.Contains(s, ".") {
		return "", badRequest(fmt.Sprintf("attribute %q: matching on sequence paths is not supported", s))
	}
	if len(s) == 8 && strings.Trim(strings.ToUpper(s), "0123456789ABCDEF") == "" {
		return strings.ToUpper(s), nil
	}
	if t, ok := dcm.TagForKeyword(s); ok {
		return t, nil
	}
	return "", badRequest(fmt.Sprintf("unknown attribute %q: use a DICOM keyword such as PatientName or a tag such as 00100010", s))
}

// writeDICOMJSON writes v as application/dicom+json. A data set is encoded
// directly: json.Marshal would re-scan what its encoder wrote.
func writeDICOMJSON(c echo.Context, status int, v any) error {
	var b []byte
	var err error
	switch v := v.(type) {
	case dcm.Dataset:
		b, err = v.AppendJSON(nil)
	default:
		b, err = json.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	return c.Blob(status, mediaDICOMJSON, b)
}
