package recognitionapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/storagetest"
)

// now is the gateway's clock in these tests: noon in China on the day
// after the corpus's "today".
var now = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)

// startGateway runs a gateway with recognition (sample registry, default
// catalogue) over an in-memory object store.
func startGateway(t *testing.T) *gwtest.Gateway {
	t.Helper()
	return startGatewayWith(t, recognitionapi.Options{})
}

// headerPrincipal stands in for authentication (tested on real gateway
// processes in cmd/gateway): the principal is "role/institution/user"
// from the X-Test-Principal header, an admin when there is none.
func headerPrincipal(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := auth.Principal{Role: auth.RoleAdmin, User: "ops"}
		if v := c.Request().Header.Get("X-Test-Principal"); v != "" {
			parts := strings.SplitN(v, "/", 3)
			p = auth.Principal{Role: auth.Role(parts[0]), Institution: parts[1], User: parts[2]}
		}
		c.SetRequest(c.Request().WithContext(auth.WithPrincipal(c.Request().Context(), p)))
		return next(c)
	}
}

// startGatewayWith is startGateway with API options.
func startGatewayWith(t *testing.T, opt recognitionapi.Options) *gwtest.Gateway {
	t.Helper()
	return gwtest.Start(t, storagetest.NewMemory(), gwtest.Options{
		Extend: func(db *index.DB, store storage.Store) gwtest.Extension {
			ctx := context.Background()
			svc, err := recognition.New(ctx, db, records.New(store, db), recognition.Options{
				Now: func() time.Time { return now }, PersonKeySecret: []byte("e2e secret, 16 bytes or more"),
			})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := recognition.ExampleRegistry()
			if err != nil {
				t.Fatal(err)
			}
			cat, err := recognition.DefaultCatalogue()
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Import(ctx, reg, cat); err != nil {
				t.Fatal(err)
			}
			return gwtest.Extension{
				Annotators: []archive.Annotator{svc},
				Observers:  []archive.Observer{svc},
				Middleware: []echo.MiddlewareFunc{headerPrincipal, recognitionapi.Asking},
				API:        func(g *echo.Group) { recognitionapi.Register(g, svc, opt) },
			}
		},
	})
}

// generate derives studies from the real files of github.com/suyashkumar/dicom;
// seed 6 gives hospitals in Jiangsu and Shanghai (both in the Yangtze River
// Delta) among others.
func generate(t *testing.T) *corpus.Manifest {
	t.Helper()
	dir := t.TempDir()
	man, err := corpus.Generate(dir, corpus.Options{
		Studies: 8, SeriesPerStudy: 2, InstancesPerSeries: 2, Big: 4, Seed: 6,
		Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatalf("generate corpus: %v", err)
	}
	return man
}

// holder maps InstitutionName spellings to sample registry ids.
func holder(t *testing.T) func(name string) string {
	reg, err := recognition.ExampleRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) string {
		for _, in := range reg.Institutions {
			if in.Name == name || in.NameEN == name || slices.Contains(in.Aliases, name) {
				return in.ID
			}
		}
		return ""
	}
}

// call sends a JSON request to the API and decodes the answer into out.
func call(t *testing.T, gw *gwtest.Gateway, method, path string, body any, out any) int {
	t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	resp, b := gwtest.Do(t, method, gw.Srv.URL+"/api/v1"+path, map[string]string{"Content-Type": "application/json"}, r)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// TestEndToEnd pushes studies of two institutions in different provinces
// (Jiangsu, Shanghai), queries them from a third (Zhejiang) and a fourth
// (Beijing), checks the private block in QIDO and metadata, runs the order
// check, records decisions and reads the statistics.
func TestEndToEnd(t *testing.T) {
	gw := startGateway(t)
	man := generate(t)
	idOf := holder(t)
	var pushed []corpus.Study
	for _, st := range man.Studies() {
		if h := idOf(st.InstitutionName); h != "jsph" && h != "zsh-fdu" {
			continue
		}
		var paths []string
		for _, f := range st.Files() {
			paths = append(paths, man.Abs(f))
		}
		resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, paths...))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
		pushed = append(pushed, st)
	}
	if len(pushed) != 5 {
		t.Fatalf("pushed %d studies of jsph and zsh-fdu, want 5", len(pushed))
	}

	// QIDO from Zhejiang (YRD) and from Beijing (JJJ).
	qido := func(asking string) map[string]dcm.Dataset {
		resp, body := gwtest.Do(t, http.MethodGet, gw.URL+"/studies", map[string]string{
			"Accept": "application/dicom+json", recognitionapi.HeaderAskingInstitution: asking,
		}, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("QIDO: %d %s", resp.StatusCode, body)
		}
		var items []dcm.Dataset
		if err := json.Unmarshal(body, &items); err != nil {
			t.Fatal(err)
		}
		out := map[string]dcm.Dataset{}
		for _, ds := range items {
			out[ds.String("0020000D")] = ds
		}
		return out
	}
	fromZJ, fromBJ := qido("fahzu"), qido("pumch")
	byStatus := map[string]int{}
	var recognisedCT string
	for _, st := range pushed {
		ds := fromZJ[st.StudyUID]
		if ds.String("00110010") != "IMGCLOUD RECOGNITION" {
			t.Fatalf("%s: no private block in %v", st.StudyUID, ds)
		}
		status := ds.String("00111001")
		byStatus[status]++
		modality := st.Series[0].Modality
		switch {
		case modality == "OT":
			if status != "NOT_ELIGIBLE" || ds.String("00111007") == "" {
				t.Errorf("OT study: %s %q", status, ds.String("00111007"))
			}
		case status == "RECOGNISED":
			if !slices.Contains(ds.Strings("00111005"), "YRD") || ds.String("00111004") == "" || ds.String("00111006") != idOf(st.InstitutionName) {
				t.Errorf("recognised %s: scope %v until %q holding %q", modality, ds.Strings("00111005"), ds.String("00111004"), ds.String("00111006"))
			}
			if modality == "CT" && recognisedCT == "" {
				recognisedCT = st.StudyUID
			}
		case status == "EXPIRED":
			if ds.String("00111004") >= "20261126" {
				t.Errorf("expired but valid until %s", ds.String("00111004"))
			}
		default:
			t.Errorf("%s study from Zhejiang: %s (%s)", modality, status, ds.String("00111007"))
		}
		if modality != "OT" {
			if bj := fromBJ[st.StudyUID].String("00111001"); bj != "OUTSIDE_REGION" {
				t.Errorf("%s from Beijing: %s", modality, bj)
			}
		}
	}
	if byStatus["RECOGNISED"] == 0 || recognisedCT == "" {
		t.Fatalf("statuses %v: nothing recognised", byStatus)
	}

	// Metadata: every instance carries the block.
	resp, body := gwtest.Do(t, http.MethodGet, gw.URL+"/studies/"+recognisedCT+"/metadata", map[string]string{
		"Accept": "application/dicom+json", recognitionapi.HeaderAskingInstitution: "fahzu",
	}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	var meta []dcm.Dataset
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	for _, ds := range meta {
		if ds.String("00111001") != "RECOGNISED" || ds.String("00111002") != "CT01" || ds.String("00111003") != "头颅CT平扫" {
			t.Errorf("metadata block: %v %v %v", ds.String("00111001"), ds.String("00111002"), ds.String("00111003"))
		}
	}

	// The JSON tag for workstations.
	var tagAnswer struct {
		Tag         recognition.Tag         `json:"tag"`
		Eligibility recognition.Eligibility `json:"eligibility"`
	}
	if code := call(t, gw, http.MethodGet, "/recognition/studies/"+recognisedCT+"?institution=fahzu", nil, &tagAnswer); code != 200 ||
		tagAnswer.Tag.Status != recognition.StatusRecognised || !tagAnswer.Eligibility.Eligible {
		t.Fatalf("tag: %d %+v", code, tagAnswer)
	}

	// Person links: the CT's patient, and another study's patient of the
	// other hospital, are the same person.
	ctStudy, _ := man.Study(recognisedCT)
	var otherHospital corpus.Study
	for _, st := range pushed {
		if idOf(st.InstitutionName) != idOf(ctStudy.InstitutionName) && st.Series[0].Modality == "CT" {
			otherHospital = st
		}
	}
	issuerOf := map[string]string{"jsph": "JSPH", "zsh-fdu": "ZSH-FDU"}
	nid := "310104198001011239" // a valid check character, a fictitious person
	var link struct {
		PersonKey string `json:"person_key"`
	}
	for _, st := range []corpus.Study{ctStudy, otherHospital} {
		req := map[string]string{"national_id": nid, "issuer": issuerOf[idOf(st.InstitutionName)], "patient_id": st.PatientID}
		if code := call(t, gw, http.MethodPost, "/persons/links", req, &link); code != 200 || len(link.PersonKey) != 64 {
			t.Fatalf("link: %d %+v", code, link)
		}
	}

	// Order check by person key from Zhejiang for a CT head: both CTs.
	var order recognition.OrderResult
	if code := call(t, gw, http.MethodPost, "/recognition/order-check",
		map[string]string{"institution": "fahzu", "item": "CT01", "person_key": link.PersonKey}, &order); code != 200 {
		t.Fatalf("order check: %d", code)
	}
	if !order.Recognisable || len(order.Results) != 2 || order.Results[0].Status != recognition.StatusRecognised {
		t.Errorf("order check: %+v", order)
	}
	for _, h := range order.Results {
		if !h.Recognised() && h.Reason == "" {
			t.Errorf("result %s not recognised without a reason", h.Study)
		}
	}
	if code := call(t, gw, http.MethodPost, "/recognition/order-check",
		map[string]string{"institution": "fahzu", "item": "NOPE", "person_key": link.PersonKey}, nil); code != 400 {
		t.Errorf("unknown item: %d", code)
	}

	// Decisions: Zhejiang accepts, Anhui refuses, the OT is refused at once.
	dec := func(body map[string]string) (int, recognition.Decision) {
		var d recognition.Decision
		body["order"] = "MZ-" + body["institution"]
		code := call(t, gw, http.MethodPost, "/recognition/decisions", body, &d)
		return code, d
	}
	if code, d := dec(map[string]string{"study": recognisedCT, "institution": "fahzu", "outcome": "accept"}); code != 201 || d.PriceYuan != 150 {
		t.Fatalf("accept: %d %+v", code, d)
	}
	if code, _ := dec(map[string]string{"study": recognisedCT, "institution": "ayfy", "outcome": "refuse", "reason": "image_quality"}); code != 201 {
		t.Fatalf("refuse: %d", code)
	}
	var ot string
	for _, st := range pushed {
		if st.Series[0].Modality == "OT" {
			ot = st.StudyUID
		}
	}
	if code, _ := dec(map[string]string{"study": ot, "institution": "fahzu", "outcome": "accept"}); code != 409 {
		t.Errorf("decision on a non-recognisable study: %d", code)
	}
	if code, _ := dec(map[string]string{"study": recognisedCT, "institution": "pumch", "outcome": "accept"}); code != 409 {
		t.Errorf("decision from outside the region: %d", code)
	}
	if code, _ := dec(map[string]string{"study": recognisedCT, "institution": "fahzu", "outcome": "refuse"}); code != 400 {
		t.Errorf("refusal without a reason: %d", code)
	}

	// Statistics: each grouping sums to 1 recognised, 1 refused, 150 yuan.
	for _, by := range []string{"month", "region", "institution", "item"} {
		var st recognition.Stats
		if code := call(t, gw, http.MethodGet, "/recognition/statistics?by="+by, nil, &st); code != 200 || st.By != by {
			t.Fatalf("statistics by %s: %d", by, code)
		}
		rec, ref, saved := 0, 0, 0.0
		for _, r := range st.Rows {
			rec, ref, saved = rec+r.Recognised, ref+r.Refused, saved+r.SavedYuan
		}
		if rec != 1 || ref != 1 || saved != 150 || len(st.Rows) == 0 {
			t.Errorf("by %s: %d recognised, %d refused, %.2f yuan in %+v", by, rec, ref, saved, st.Rows)
		}
		if by == "month" && st.Rows[0].Key != "2026-11" {
			t.Errorf("month key %q", st.Rows[0].Key)
		}
		if by == "item" && (st.Rows[0].Key != "CT01" || st.Rows[0].RefusalsByReason["image_quality"] != 1) {
			t.Errorf("by item %+v", st.Rows)
		}
	}
	if code := call(t, gw, http.MethodGet, "/recognition/statistics?by=week", nil, nil); code != 400 {
		t.Errorf("by week: %d", code)
	}
	// The raw statistics JSON has the shape the viewer reads.
	resp, body = gwtest.Do(t, http.MethodGet, gw.Srv.URL+"/api/v1/recognition/statistics?by=month", nil, nil)
	for _, key := range []string{`"by":"month"`, `"rows":[{"key":"2026-11"`, `"recognised":1`, `"refused":1`, `"refusals_by_reason":{`, `"saved_yuan":150`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("statistics JSON lacks %s: %s", key, body)
		}
	}
	_ = resp
}

// TestAdminAPI edits the registry and catalogue through the admin routes,
// with bad input refused and nothing half-written.
func TestAdminAPI(t *testing.T) {
	gw := startGateway(t)
	item := map[string]any{
		"code": "US09", "name": "颈部血管超声", "name_en": "Ultrasound, neck vessels",
		"match":         map[string]any{"modalities": []string{"US"}, "keywords": []string{"颈动脉", "carotid"}},
		"validity_days": 30, "price_yuan": 150, "regions": []string{"province"},
	}
	if code := call(t, gw, http.MethodPut, "/admin/catalogue/US09", item, &map[string]any{}); code != 200 {
		t.Fatalf("put item: %d", code)
	}
	var got recognition.Item
	if code := call(t, gw, http.MethodGet, "/recognition/catalogue/US09", nil, &got); code != 200 || got.ValidityDays != 30 {
		t.Errorf("get item: %d %+v", code, got)
	}
	bad := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"unknown region", http.MethodPut, "/admin/catalogue/US10", map[string]any{"code": "US10", "name": "x", "name_en": "x",
			"match": map[string]any{"modalities": []string{"US"}}, "validity_days": 30, "regions": []string{"MARS"}}, 400},
		{"code differs from path", http.MethodPut, "/admin/catalogue/US11", item, 400},
		{"unknown field", http.MethodPut, "/admin/catalogue/US09", map[string]any{"code": "US09", "colour": "red"}, 400},
		{"unknown item", http.MethodGet, "/recognition/catalogue/NOPE", nil, 404},
		{"delete unknown", http.MethodDelete, "/admin/catalogue/NOPE", nil, 404},
		{"region in use", http.MethodDelete, "/admin/regions/YRD", nil, 409},
		{"bad province", http.MethodPut, "/admin/institutions/x1", map[string]any{"name": "某医院", "province": "990000"}, 400},
		{"name taken", http.MethodPut, "/admin/institutions/x2", map[string]any{"name": "北京协和医院", "province": "110000"}, 409},
		{"unknown institution", http.MethodGet, "/institutions/nowhere", nil, 404},
	}
	for _, c := range bad {
		if code := call(t, gw, c.method, c.path, c.body, nil); code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
	}
	var list struct {
		Items []recognition.Item `json:"items"`
	}
	call(t, gw, http.MethodGet, "/recognition/catalogue", nil, &list)
	for _, it := range list.Items {
		if it.Code == "US10" || it.Code == "US11" {
			t.Errorf("half-written item %s", it.Code)
		}
	}
	inst := map[string]any{"name": "杭州示例医院", "province": "330000", "city": "330100", "issuers": []string{"HZEX"},
		"certification": map[string]string{"from": "2025-01-01", "until": "2027-12-31"}, "regions": []string{"YRD"}}
	if code := call(t, gw, http.MethodPut, "/admin/institutions/hz-example", inst, &map[string]any{}); code != 200 {
		t.Fatalf("put institution: %d", code)
	}
	var in recognition.Institution
	if code := call(t, gw, http.MethodGet, "/institutions/hz-example", nil, &in); code != 200 || in.ID != "hz-example" || in.Regions[0] != "YRD" {
		t.Errorf("get institution: %d %+v", code, in)
	}
	if code := call(t, gw, http.MethodDelete, "/admin/institutions/hz-example", nil, nil); code != 204 {
		t.Errorf("delete institution: %d", code)
	}
}

// TestPersonLinksAndOrderCheckLimit: over HTTP, a clinician's link answer
// carries no person key, another issuer is refused with 403, unlink is a
// POST, and order checks stop at the clinician's limit with 429.
func TestPersonLinksAndOrderCheckLimit(t *testing.T) {
	clock := now
	gw := startGatewayWith(t, recognitionapi.Options{OrderChecks: recognitionapi.Rate{PerMinute: 1, Burst: 2}, Now: func() time.Time { return clock }})
	send := func(who, path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		resp, out := gwtest.Do(t, http.MethodPost, gw.Srv.URL+"/api/v1"+path, map[string]string{"Content-Type": "application/json", "X-Test-Principal": who}, bytes.NewReader(b))
		return resp.StatusCode, string(out)
	}
	const dr = "clinician/jsph/dr.wang"
	nid := "310104198001011239"
	link := map[string]string{"national_id": nid, "issuer": "JSPH", "patient_id": "P-77"}
	if code, out := send(dr, "/persons/links", link); code != 200 || strings.Contains(out, "person_key") || !strings.Contains(out, `"status":"accepted"`) {
		t.Fatalf("clinician link: %d %s", code, out)
	}
	if code, out := send(dr, "/persons/links", map[string]string{"national_id": nid, "issuer": "ZSH-FDU", "patient_id": "P-78"}); code != 403 || !strings.Contains(out, "issuing institution") {
		t.Errorf("another issuer: %d %s", code, out)
	}
	if code, out := send("patient//p", "/persons/links", link); code != 403 {
		t.Errorf("patient links: %d %s", code, out)
	}
	if code, out := send(dr, "/persons/links/unlink", link); code != 200 || !strings.Contains(out, `"status":"unlinked"`) {
		t.Errorf("unlink: %d %s", code, out)
	}
	if code, out := send("admin//ops", "/persons/links", link); code != 200 || !strings.Contains(out, `"person_key":"`) {
		t.Errorf("admin link after unlink: %d %s", code, out)
	}

	check := map[string]string{"item": "CT01", "national_id": nid}
	for i := range 2 {
		if code, out := send(dr, "/recognition/order-check", check); code != 200 {
			t.Fatalf("order check %d: %d %s", i+1, code, out)
		}
	}
	if code, out := send(dr, "/recognition/order-check", check); code != 429 || !strings.Contains(out, "too many order checks") {
		t.Errorf("third order check at once: %d %s", code, out)
	}
	if code, _ := send("clinician/jsph/dr.zhao", "/recognition/order-check", check); code != 200 {
		t.Errorf("another clinician shares the limit: %d", code)
	}
	clock = clock.Add(time.Minute)
	if code, out := send(dr, "/recognition/order-check", check); code != 200 {
		t.Errorf("order check a minute later: %d %s", code, out)
	}
}
