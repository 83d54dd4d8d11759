package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// TestChineseModalityThroughSTOW: a file written the way domestic
// modalities write them (DCMTK's dump2dcm, GB18030 bytes and no (0008,0005),
// dates forwarded as explicit UN, IS "1.0" and DS "1,5") is stored through
// real HTTP STOW with a PACS token of an institution whose registry entry
// says default_charset GB18030. QIDO then finds it by PatientName=张*, and
// its metadata has the Chinese name, DA/TM dates, the numbers, and the
// ingest block saying how it was read. A file whose UN-as-SQ bytes are not
// items is stored too, its element kept as UN and counted.
func TestChineseModalityThroughSTOW(t *testing.T) {
	dcmtktest.Tool(t, "dump2dcm")
	const study = "1.2.826.0.1.3680043.10.16.1"
	gb, err := simplifiedchinese.GB18030.NewEncoder().String("张^三丰")
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(s string) string {
		var parts []string
		for _, c := range []byte(s) {
			parts = append(parts, fmt.Sprintf("%02x", c))
		}
		return strings.Join(parts, `\`)
	}
	dump := func(sop string, extra ...string) string {
		lines := append([]string{
			`(0008,0016) UI =CTImageStorage`,
			`(0008,0018) UI [` + sop + `]`,
			`(0008,0060) CS [CT]`,
			`(0010,0010) PN [` + gb + `]`,
			`(0010,0020) LO [ZJ-0001]`,
			`(0020,000d) UI [` + study + `]`,
			`(0020,000e) UI [` + study + `.1]`,
		}, extra...)
		return dcmtktest.Dump2DCM(t, []byte(strings.Join(lines, "\n")+"\n"))
	}
	main := dump(study+".1.1",
		`(0018,0050) DS [1,5]`,
		`(0020,0013) IS [1.0]`,
		`(0040,0250) UN `+hexOf("20240102"),
		`(0040,0251) UN `+hexOf("101530"),
	)
	badSeq := dump(study+".1.2", `(0040,0260) UN 01\02\03\04\05\06\07\08`)

	// The shipped registry (its regions are the catalogue's), plus one
	// institution whose modalities write GB18030.
	shipped, err := os.ReadFile("../../recognition/defaults/institutions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(t.TempDir(), "institutions.yaml")
	if err := os.WriteFile(reg, append(shipped, `
  - id: zj-hosp
    name: 浙江测试医院
    province: "330000"
    default_charset: GB18030
`...), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := "gw_ops_0123456789abcdefghijklmnop"
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--institutions", reg)
	root := strings.TrimSuffix(p.base, "/dicomweb")
	pacs, clinician := issueToken(t, root, admin, "pacs", "zj-hosp"), issueToken(t, root, admin, "clinician", "zj-hosp")

	body, ct := gwtest.Multipart(gwtest.FileParts(t, main, badSeq))
	resp, out := gwtest.Do(t, "POST", p.base+"/studies", map[string]string{"Authorization": "Bearer " + pacs, "Content-Type": ct}, strings.NewReader(string(body)))
	if resp.StatusCode != 200 {
		t.Fatalf("STOW: %d %s\n%s", resp.StatusCode, out, p.log.String())
	}

	get := func(path string) []map[string]json.RawMessage {
		t.Helper()
		resp, out := gwtest.Do(t, "GET", p.base+path, map[string]string{"Authorization": "Bearer " + clinician, "Accept": "application/dicom+json"}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, out)
		}
		var res []map[string]json.RawMessage
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, out)
		}
		return res
	}
	found := get("/studies?PatientName=" + url.QueryEscape("张*"))
	if len(found) != 1 || !strings.Contains(string(found[0]["0020000D"]), study) {
		t.Fatalf("QIDO PatientName=张* found %d studies: %v", len(found), found)
	}
	if got := string(found[0]["00100010"]); !strings.Contains(got, `"Alphabetic":"张^三丰"`) {
		t.Errorf("QIDO PatientName %s", got)
	}

	meta := map[string]string{}
	for _, inst := range get("/studies/" + study + "/metadata") {
		sop := string(inst["00080018"])
		for _, tg := range []string{"00100010", "00400250", "00400251", "00180050", "00200013", "00400260", "00131001", "00131002", "00131003"} {
			meta[sop[strings.LastIndex(sop, ".")+1:strings.LastIndex(sop, `"`)]+"/"+tg] = string(inst[tg])
		}
	}
	for k, want := range map[string]string{
		"1/00100010": `{"vr":"PN","Value":[{"Alphabetic":"张^三丰"}]}`,
		"1/00400250": `{"vr":"DA","Value":["20240102"]}`,
		"1/00400251": `{"vr":"TM","Value":["101530"]}`,
		"1/00180050": `{"vr":"DS","Value":[1.5]}`,
		"1/00200013": `{"vr":"IS","Value":[1]}`,
		"1/00131001": `{"vr":"CS","Value":["GB18030"]}`,
		"1/00131003": `{"vr":"IS","Value":[2]}`,
		"2/00400260": `{"vr":"UN","InlineBinary":"AQIDBAUGBwg="}`,
		"2/00131003": `{"vr":"IS","Value":[1]}`,
	} {
		if meta[k] != want {
			t.Errorf("metadata %s = %s, want %s", k, meta[k], want)
		}
	}
	if !strings.Contains(meta["1/00131002"], "sender's default") {
		t.Errorf("decoding note %s", meta["1/00131002"])
	}
}

// TestUnknownCharsetRefusedAtStart: a registry naming a character set the
// gateway cannot decode stops the start with the file, the line and the
// name; so does --default-charset.
func TestUnknownCharsetRefusedAtStart(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "institutions.yaml")
	if err := os.WriteFile(reg, []byte("institutions:\n  - id: x\n    name: 某医院\n    province: \"330000\"\n    default_charset: GB-99999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--institutions", reg}, reg + `:5: invalid input: institution x: default_charset "GB-99999" is not a character set`},
		{[]string{"--default-charset", "latin-9000"}, `default-charset: "latin-9000" is not a character set`},
	} {
		args := append([]string{"serve", "--no-auth", "--listen", freeAddr(t), "--data", t.TempDir()}, tc.args...)
		cmd := exec.Command(gatewayBinary(t), args...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: err %v, output %s; want it to stop with %q", tc.args, err, out, tc.want)
		}
	}
}

// issueToken asks the admin API of the gateway at root for a token of
// role for a user of institution.
func issueToken(t *testing.T, root, admin, role, institution string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"role": role, "institution": institution, "user": role + "-1"})
	resp, out := gwtest.Do(t, "POST", root+"/api/v1/admin/tokens", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}, strings.NewReader(string(b)))
	var tok struct{ Token string }
	if resp.StatusCode != 201 || json.Unmarshal(out, &tok) != nil {
		t.Fatalf("%s token: %d %s", role, resp.StatusCode, out)
	}
	return tok.Token
}
