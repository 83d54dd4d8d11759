package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/dcmtktest"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
)

// testPKI is a CA and certificates it signs, written as PEM files.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *rsa.PrivateKey
	CAFile string
}

// newPKI makes a CA (RSA: DCMTK's default BCP 195 profile offers RSA
// cipher suites only).
func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key}
	p.CAFile = p.write(t, name+"-ca.crt", "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue signs a certificate for 127.0.0.1, usable by servers and clients;
// it returns the certificate and key files.
func (p *testPKI) issue(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+".crt", "CERTIFICATE", der), p.write(t, cn+".key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
}

// reportReceiver is a PACS's storage commitment listener (a dimse.Server
// with an EventHandler): it counts the reports it is sent.
type reportReceiver struct {
	mu     sync.Mutex
	events []uint16
	got    chan struct{}
}

func (r *reportReceiver) Associate(ctx context.Context, _ *dimse.Association) (context.Context, error) {
	return ctx, nil
}
func (r *reportReceiver) Echo(context.Context, *dimse.Association) uint16 { return 0 }
func (r *reportReceiver) Store(context.Context, *dimse.Association, *dimse.StoreRequest) (uint16, string) {
	return 0x0211, ""
}
func (r *reportReceiver) Find(context.Context, *dimse.Association, *dimse.FindRequest, func([]byte) error) (uint16, string) {
	return 0x0211, ""
}
func (r *reportReceiver) Closed(context.Context, *dimse.Association, error) {}
func (r *reportReceiver) EventReport(_ context.Context, _ *dimse.Association, rq *dimse.EventRequest) uint16 {
	r.mu.Lock()
	r.events = append(r.events, rq.EventType)
	r.mu.Unlock()
	r.got <- struct{}{}
	return 0
}

// listenReports starts a report receiver on a free port (over TLS when
// cfg is set) and returns its port.
func listenReports(t *testing.T, cfg *tls.Config) (int, *reportReceiver) {
	t.Helper()
	r := &reportReceiver{got: make(chan struct{}, 4)}
	srv, err := dimse.New(dimse.Options{Handler: r, Syntaxes: func(as string) []string {
		if as == "1.2.840.10008.1.20.1" {
			return []string{"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	go srv.Serve(context.Background(), ln)
	t.Cleanup(func() { srv.Close(context.Background()); ln.Close() })
	return port, r
}

// commitRequestFor encodes a storage commitment request (explicit VR
// little endian, sequence and items of defined length, as DCMTK writes).
func commitRequestFor(txn string, files ...corpus.File) []byte {
	el := func(g, e uint16, vr string, v string) []byte {
		if len(v)%2 == 1 {
			v += "\x00"
		}
		b := binary.LittleEndian.AppendUint16(nil, g)
		b = binary.LittleEndian.AppendUint16(b, e)
		b = append(b, vr...)
		if vr == "SQ" {
			b = append(b, 0, 0)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		} else {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		}
		return append(b, v...)
	}
	var items []byte
	for _, f := range files {
		it := append(el(8, 0x1150, "UI", f.SOPClassUID), el(8, 0x1155, "UI", f.SOPUID)...)
		items = binary.LittleEndian.AppendUint32(append(items, 0xFE, 0xFF, 0x00, 0xE0), uint32(len(it)))
		items = append(items, it...)
	}
	return append(el(8, 0x1195, "UI", txn), el(8, 0x1199, "SQ", string(items))...)
}

// TestDICOMTLSAndCommitment runs a gateway process with its plain and
// TLS DICOM ports. DCMTK's echoscu and storescu over TLS with a client
// certificate of the registry's CA are served; without a certificate,
// with one of another CA, below TLS 1.2, or on the plain port, an AE
// marked tls is refused. Storage commitment (DCMTK 3.6.7 has no SCU for
// it: driven with the project's dimse.Client) answers on the same
// association, and over a new association (TLS for the AE marked tls) to
// the AE's listener when the requester releases first.
func TestDICOMTLSAndCommitment(t *testing.T) {
	dcmtktest.Tool(t, "storescu")
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 6, SeriesPerStudy: 1, InstancesPerSeries: 2, Big: 0, Seed: 11,
		Today: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var fahzu []corpus.File
	for _, f := range man.Files {
		if f.IssuerOfPatientID == "FAHZU" {
			fahzu = append(fahzu, f)
		}
	}
	if len(fahzu) < 3 {
		t.Fatalf("corpus has %d FAHZU files, want at least 3", len(fahzu))
	}
	pki := newPKI(t, "hospitals")
	gwCert, gwKey := pki.issue(t, "gateway")
	aeCert, aeKey := pki.issue(t, "tlspacs")
	strangerCert, strangerKey := newPKI(t, "stranger").issue(t, "stranger")

	// The TLS AE's report listener requires the gateway's client certificate.
	caPool := x509.NewCertPool()
	caPool.AddCert(pki.ca)
	rcvCert, err := tls.LoadX509KeyPair(aeCert, aeKey)
	if err != nil {
		t.Fatal(err)
	}
	tlsPort, tlsReports := listenReports(t, &tls.Config{Certificates: []tls.Certificate{rcvCert}, ClientCAs: caPool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	plainPort, plainReports := listenReports(t, nil)

	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte(fmt.Sprintf("- {aet: TLSPACS, host: 127.0.0.1, port: %d, institution: fahzu, allow: [store], tls: true}\n"+
		"- {aet: FAHZUPACS, host: 127.0.0.1, port: %d, institution: fahzu, allow: [store]}\n", tlsPort, plainPort)), 0o600)
	plainAddr, tlsAddr := freeAddr(t), freeAddr(t)
	startGateway(t, t.TempDir(), "--demo", "--dicom-listen", plainAddr, "--dicom-aes", aes,
		"--dicom-tls-listen", tlsAddr, "--dicom-tls-cert", gwCert, "--dicom-tls-key", gwKey, "--dicom-tls-client-ca", pki.CAFile)
	host, port, _ := strings.Cut(tlsAddr, ":")
	_, plain, _ := strings.Cut(plainAddr, ":")
	tlsArgs := func(cert, key string) []string {
		return []string{"+tls", key, cert, "+cf", pki.CAFile, "-aet", "TLSPACS", "-aec", "IMGCLOUD", host, port}
	}

	t.Run("TLS with a client certificate", func(t *testing.T) {
		if out, err := dcmtk(t, "echoscu", tlsArgs(aeCert, aeKey)...); err != nil {
			t.Fatalf("echoscu +tls: %v\n%s", err, out)
		}
		args := append(tlsArgs(aeCert, aeKey), man.Abs(fahzu[0]), man.Abs(fahzu[1]))
		if out, err := dcmtk(t, "storescu", append([]string{"-v"}, args...)...); err != nil || strings.Count(out, "(Success)") != 2 {
			t.Fatalf("storescu +tls: %v\n%s", err, out)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		out, err := dcmtk(t, "echoscu", "+tla", "+cf", pki.CAFile, "-aet", "TLSPACS", "-aec", "IMGCLOUD", host, port)
		if err == nil || !strings.Contains(out, "Calling AE Title Not Recognized") {
			t.Errorf("TLS AE without a client certificate: %v\n%s", err, out)
		}
		if out, err := dcmtk(t, "echoscu", tlsArgs(strangerCert, strangerKey)...); err == nil {
			t.Errorf("client certificate of another CA accepted:\n%s", out)
		}
		out, err = dcmtk(t, "echoscu", "-aet", "TLSPACS", "-aec", "IMGCLOUD", host, plain)
		if err == nil || !strings.Contains(out, "Calling AE Title Not Recognized") {
			t.Errorf("TLS AE on the plain port: %v\n%s", err, out)
		}
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: caPool, MaxVersion: tls.VersionTLS11})
		if err == nil {
			c.Close()
			t.Errorf("TLS 1.1 handshake accepted")
		}
		// An AE not marked tls may use either port (anonymous TLS here).
		if out, err := dcmtk(t, "echoscu", "+tla", "+cf", pki.CAFile, "-aet", "FAHZUPACS", "-aec", "IMGCLOUD", host, port); err != nil {
			t.Errorf("AE not marked tls on the TLS port: %v\n%s", err, out)
		}
	})

	commit := func(t *testing.T, c *dimse.Client, txn string, files ...corpus.File) {
		t.Helper()
		if st, cm, err := c.Action("1.2.840.10008.1.20.1", "1.2.840.10008.1.20.1.1", 1, commitRequestFor(txn, files...)); st != 0 || err != nil {
			t.Fatalf("N-ACTION: %04X %q %v", st, cm, err)
		}
	}
	contexts := []dimse.PresentationContext{{AbstractSyntax: "1.2.840.10008.1.20.1", TransferSyntaxes: []string{"1.2.840.10008.1.2.1"}}}

	t.Run("commitment on the same association", func(t *testing.T) {
		if out, err := dcmtk(t, "storescu", "-v", "-aet", "FAHZUPACS", "-aec", "IMGCLOUD", host, plain, man.Abs(fahzu[2])); err != nil {
			t.Fatalf("storescu: %v\n%s", err, out)
		}
		c, err := dimse.Dial(context.Background(), plainAddr, dimse.ClientOptions{CallingAE: "FAHZUPACS", CalledAE: "IMGCLOUD", Contexts: contexts})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		commit(t, c, "1.2.826.0.1.9.1", fahzu[2])
		cmd, _, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if ev, _ := cmd.U16(dimse.TagEventTypeID); ev != 1 {
			t.Errorf("event type %d, want 1 (all committed)", ev)
		}
		rsp := dimse.Response(cmd, 0, "")
		rsp.SetU16(dimse.TagEventTypeID, 1)
		if err := c.Respond("1.2.840.10008.1.20.1", rsp); err != nil {
			t.Fatal(err)
		}
		// Unknown instance: event type 2.
		commit(t, c, "1.2.826.0.1.9.2", fahzu[2], corpus.File{SOPClassUID: fahzu[0].SOPClassUID, SOPUID: "1.2.826.0.1.9.404"})
		if cmd, _, err = c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if ev, _ := cmd.U16(dimse.TagEventTypeID); ev != 2 {
			t.Errorf("event type %d, want 2 (a failure)", ev)
		}
		c.Respond("1.2.840.10008.1.20.1", dimse.Response(cmd, 0, ""))
	})

	t.Run("commitment over a new association", func(t *testing.T) {
		for _, tc := range []struct {
			name, aet, addr string
			tls             *tls.Config
			reports         *reportReceiver
		}{
			{"plain", "FAHZUPACS", plainAddr, nil, plainReports},
			{"TLS", "TLSPACS", tlsAddr, &tls.Config{RootCAs: caPool, Certificates: []tls.Certificate{rcvCert}}, tlsReports},
		} {
			c, err := dimse.Dial(context.Background(), tc.addr, dimse.ClientOptions{CallingAE: tc.aet, CalledAE: "IMGCLOUD", Contexts: contexts, TLS: tc.tls})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			commit(t, c, "1.2.826.0.1.9.3", fahzu[0], fahzu[1])
			c.Release() // before the report: it goes to the AE's listener
			select {
			case <-tc.reports.got:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: no report on the AE's listener", tc.name)
			}
			tc.reports.mu.Lock()
			if ev := tc.reports.events[0]; ev != 1 {
				t.Errorf("%s: event type %d, want 1", tc.name, ev)
			}
			tc.reports.mu.Unlock()
		}
	})
}

// TestDICOMCommands runs "gateway dicom echo|store|find|move" (the
// project's SCU) against a gateway process: echo from a known and an
// unknown AE (the rejection said in words), store of a folder over two
// associations with the refusals grouped by reason, find as a table and
// as JSON, move to a workstation's storescp and to an unknown destination
// (A801), and store to DCMTK's storescp.
func TestDICOMCommands(t *testing.T) {
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 6, SeriesPerStudy: 1, InstancesPerSeries: 3, Big: 0, Seed: 11,
		Today: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	own := t.TempDir() // FAHZU's files only
	var fahzu []corpus.File
	for _, f := range man.Files {
		if f.IssuerOfPatientID == "FAHZU" {
			fahzu = append(fahzu, f)
			b, err := os.ReadFile(man.Abs(f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(own, f.SOPUID+".dcm"), b, 0o600)
		}
	}
	if len(fahzu) == 0 || len(fahzu) == len(man.Files) {
		t.Fatalf("corpus: %d FAHZU files of %d, want some and not all", len(fahzu), len(man.Files))
	}
	os.WriteFile(filepath.Join(own, "notes.txt"), []byte("not DICOM"), 0o600)
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	wsAddr := freeAddr(t) // FAHZUWS's storescp, a C-MOVE destination
	_, wsPort, _ := strings.Cut(wsAddr, ":")
	os.WriteFile(aes, []byte("- {aet: FAHZUPACS, host: 127.0.0.1, institution: fahzu, allow: [store]}\n"+
		"- {aet: FAHZUWS, host: 127.0.0.1, port: "+wsPort+", institution: fahzu, allow: [query, retrieve]}\n"), 0o600)
	addr := freeAddr(t)
	startGateway(t, t.TempDir(), "--demo", "--dicom-listen", addr, "--dicom-aes", aes)
	peer := []string{"--peer", addr, "--aec", "IMGCLOUD"}
	dicom := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append(append([]string{"dicom", args[0]}, peer...), args[1:]...)...)
	}

	if code, out, errb := dicom("echo", "--aet", "FAHZUPACS"); code != 0 || !strings.Contains(out, "success") {
		t.Errorf("echo: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := dicom("echo", "--aet", "STRANGER"); code != 1 || !strings.Contains(errb, "rejected permanently by the service user: calling AE title not recognized") {
		t.Errorf("echo from an unknown AE: exit %d\n%s%s", code, out, errb)
	}

	code, out, errb := dicom("store", "--aet", "FAHZUPACS", "-n", "2", "-q", own)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("stored %d of %d instance(s)", len(fahzu), len(fahzu))) || !strings.Contains(out, "1 file(s) not DICOM skipped") {
		t.Fatalf("store: exit %d\n%s%s", code, out, errb)
	}
	// The whole corpus: the other institutions' files are refused (0124,
	// grouped by comment), FAHZU's are duplicates (success again).
	root := filepath.Dir(filepath.Dir(filepath.Dir(man.Abs(man.Files[0]))))
	code, out, errb = dicom("store", "--aet", "FAHZUPACS", "-n", "2", "-q", root)
	others := len(man.Files) - len(fahzu)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("stored %d of %d instance(s)", len(fahzu), len(man.Files))) ||
		!strings.Contains(out, "failed: status 0124") || !strings.Contains(errb, fmt.Sprintf("%d of %d DICOM files failed", others, len(man.Files))) {
		t.Errorf("store of other institutions' files: exit %d\n%s%s", code, out, errb)
	}

	code, out, errb = dicom("find", "--aet", "FAHZUWS", "--level", "STUDY", "-k", "StudyInstanceUID", "-k", "PatientID", "--format", "json")
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil {
		t.Fatalf("find --format json: exit %d %v\n%s%s", code, err, out, errb)
	}
	studies := map[string]bool{}
	for _, f := range fahzu {
		studies[f.StudyUID] = true
	}
	foreign := map[string]bool{}
	for _, f := range man.Files {
		if f.IssuerOfPatientID != "FAHZU" {
			foreign[f.StudyUID] = true
		}
	}
	for _, r := range rows {
		if foreign[r["StudyInstanceUID"]] {
			t.Errorf("find answered another institution's refused study: %v", r)
		}
		delete(studies, r["StudyInstanceUID"])
	}
	if len(studies) != 0 {
		t.Errorf("find missed studies %v (rows %v)", studies, rows)
	}
	code, out, errb = dicom("find", "--aet", "FAHZUWS", "-k", "StudyInstanceUID="+fahzu[0].StudyUID, "-k", "PatientID")
	if code != 0 || !strings.Contains(out, "StudyInstanceUID") || !strings.Contains(out, fahzu[0].PatientID) || !strings.Contains(out, "1 match(es)") {
		t.Errorf("find table: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := dicom("find", "--aet", "FAHZUPACS", "-k", "PatientID"); code != 1 || !strings.Contains(errb, "0124") {
		t.Errorf("find by a store-only AE: exit %d\n%s%s", code, out, errb)
	}
	if code, _, errb := dicom("find", "--aet", "FAHZUWS", "-k", "NoSuchKeyword"); code != 2 || !strings.Contains(errb, "NoSuchKeyword") {
		t.Errorf("find with an unknown keyword: exit %d\n%s", code, errb)
	}
	if code, _, errb := dicom("move", "--aet", "FAHZUWS"); code != 2 || !strings.Contains(errb, "--dest") {
		t.Errorf("move without --dest: exit %d\n%s", code, errb)
	}
	// The gateway moves a study to the workstation's storescp.
	wsDir := t.TempDir()
	ws := exec.Command(dcmtktest.Tool(t, "storescp"), "+xa", "-od", wsDir, wsPort)
	ws.Env = append(os.Environ(), "TCP_NODELAY=1")
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Process.Kill(); ws.Wait() })
	inStudy := 0
	for _, f := range fahzu {
		if f.StudyUID == fahzu[0].StudyUID {
			inStudy++
		}
	}
	for attempt := 0; ; attempt++ {
		code, out, errb = dicom("move", "--aet", "FAHZUWS", "--dest", "FAHZUWS", "-k", "StudyInstanceUID="+fahzu[0].StudyUID)
		if code == 0 || attempt == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // storescp starting
	}
	if moved, _ := filepath.Glob(filepath.Join(wsDir, "*")); code != 0 || len(moved) != inStudy ||
		!strings.Contains(out, fmt.Sprintf("status 0000, %d done, 0 failed", inStudy)) {
		t.Errorf("move to FAHZUWS: exit %d, %d files received, want %d\n%s%s", code, len(moved), inStudy, out, errb)
	}
	if code, out, errb := dicom("move", "--aet", "FAHZUWS", "--dest", "NOWHERE", "-k", "StudyInstanceUID="+fahzu[0].StudyUID); code != 1 || !strings.Contains(errb, "A801") {
		t.Errorf("move to an unknown destination: exit %d\n%s%s", code, out, errb)
	}

	// Against DCMTK's storescp: every file arrives, data set for data set.
	scpAddr := freeAddr(t)
	_, scpPort, _ := strings.Cut(scpAddr, ":")
	recv := t.TempDir()
	scp := exec.Command(dcmtktest.Tool(t, "storescp"), "+xa", "-od", recv, scpPort)
	scp.Env = append(os.Environ(), "TCP_NODELAY=1")
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { scp.Process.Kill(); scp.Wait() })
	for attempt := 0; ; attempt++ {
		code, out, errb = runCLI(t, "dicom", "store", "--peer", scpAddr, "--aec", "STORESCP", "-n", "2", "-q", own)
		if code == 0 || attempt == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // storescp starting
	}
	if code != 0 || !strings.Contains(out, fmt.Sprintf("stored %d of %d", len(fahzu), len(fahzu))) {
		t.Fatalf("store to storescp: exit %d\n%s%s", code, out, errb)
	}
	got, _ := filepath.Glob(filepath.Join(recv, "*"))
	if len(got) != len(fahzu) {
		t.Errorf("storescp received %d files, want %d", len(got), len(fahzu))
	}
	for _, g := range got {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		_, sop, _ := strings.Cut(strings.TrimSuffix(filepath.Base(g), ".dcm"), ".") // "MR.<SOP Instance UID>"
		// storescp writes what DCMTK's writer makes of the data set, as
		// dcmconv does of the file sent.
		ref := filepath.Join(t.TempDir(), "ref.dcm")
		if out, err := dcmtk(t, "dcmconv", filepath.Join(own, sop+".dcm"), ref); err != nil {
			t.Errorf("storescp file %s names no sent instance: %v\n%s", filepath.Base(g), err, out)
			continue
		}
		src, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dataSet(t, b), dataSet(t, src)) {
			t.Errorf("%s: received data set differs from the file sent", sop)
		}
	}
}

// TestDICOMAEsAdminAPI manages known AEs through the admin API of a
// gateway process: an AE added is accepted on the DICOM port at once (no
// restart) and refused once removed; file entries are read-only; an
// unregistered institution is refused; each call is in the audit trail.
func TestDICOMAEsAdminAPI(t *testing.T) {
	admin := "gw_ops_0123456789abcdefghijklmnop"
	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte("- {aet: FILEAE, host: 127.0.0.1, institution: pumch, allow: [store]}\n"), 0o600)
	addr := freeAddr(t)
	p := startGatewayArgs(t, t.TempDir(), "--admin-token", admin, "--demo", "--dicom-listen", addr, "--dicom-aes", aes)
	api := strings.TrimSuffix(p.base, "/dicomweb") + "/api/v1/admin/dicom-aes"
	call := func(method, path, body string) (int, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		resp, b := gwtest.Do(t, method, api+path, map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}, r)
		return resp.StatusCode, string(b)
	}
	echo := func(aet string) (int, string) {
		code, out, errb := runCLI(t, "dicom", "echo", "--peer", addr, "--aet", aet)
		return code, out + errb
	}
	if code, out := echo("NEW AE"); code != 1 || !strings.Contains(out, "calling AE title not recognized") {
		t.Fatalf("echo before the AE is added: %d %s", code, out)
	}
	if code, body := call("PUT", "/NEW%20AE", `{"host":"127.0.0.1","institution":"pumch","allow":["query"]}`); code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	if code, out := echo("NEW AE"); code != 0 {
		t.Errorf("echo from the added AE: %d %s", code, out)
	}
	if code, body := call("PUT", "/NEW%20AE", `{"host":"127.0.0.1","institution":"pumch","allow":["query","store"]}`); code != 200 || !strings.Contains(body, `"store"`) {
		t.Errorf("change: %d %s", code, body)
	}
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/FILEAE", `{"host":"127.0.0.1","institution":"pumch"}`, 409},
		{"/OTHER", `{"host":"127.0.0.1","institution":"no-such-hospital"}`, 400},
		{"/OTHER", `{"institution":"pumch"}`, 400},
		{"/OTHER", `not json`, 400},
	} {
		if code, body := call("PUT", tc.path, tc.body); code != tc.want {
			t.Errorf("PUT %s %s: %d %s, want %d", tc.path, tc.body, code, body, tc.want)
		}
	}
	code, body := call("GET", "", "")
	var list []struct{ AET, Source string }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 3 {
		t.Errorf("list: %d %v %s (want FILEAE, DEMO from the file, NEW AE from the API)", code, err, body)
	}
	for _, e := range list {
		if want := map[string]string{"FILEAE": "file", "DEMO": "file", "NEW AE": "api"}[e.AET]; e.Source != want {
			t.Errorf("%s: source %q, want %q", e.AET, e.Source, want)
		}
	}
	if code, body := call("DELETE", "/FILEAE", ""); code != 409 {
		t.Errorf("delete a file entry: %d %s", code, body)
	}
	if code, body := call("DELETE", "/NEW%20AE", ""); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, body := call("DELETE", "/NEW%20AE", ""); code != 404 {
		t.Errorf("delete again: %d %s", code, body)
	}
	if code, out := echo("NEW AE"); code != 1 {
		t.Errorf("echo from the removed AE: %d %s", code, out)
	}
	resp, b := gwtest.Do(t, "GET", strings.TrimSuffix(p.base, "/dicomweb")+"/api/v1/admin/audit", map[string]string{"Authorization": "Bearer " + admin}, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "dicom-aes") {
		t.Errorf("audit trail lacks the admin API's calls: %d %.300s", resp.StatusCode, b)
	}
}

// TestDICOMMoveFromPACS pulls a study from a PACS into the gateway with
// "gateway dicom move": DCMTK's dcmqrscp (a Query/Retrieve SCP) holds the
// study, C-MOVEs it to the gateway's AE title over its own association,
// and the gateway then serves every instance over WADO-RS.
func TestDICOMMoveFromPACS(t *testing.T) {
	dcmtktest.Tool(t, "dcmqrscp")
	man, err := corpus.Generate(t.TempDir(), corpus.Options{Studies: 6, SeriesPerStudy: 1, InstancesPerSeries: 3, Big: 0, Seed: 11,
		Today: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var study []corpus.File
	for _, f := range man.Files {
		if f.IssuerOfPatientID == "FAHZU" && (len(study) == 0 || f.StudyUID == study[0].StudyUID) {
			study = append(study, f)
		}
	}
	gwAddr, pacsAddr := freeAddr(t), freeAddr(t)
	_, gwPort, _ := strings.Cut(gwAddr, ":")
	pacsHost, pacsPort, _ := strings.Cut(pacsAddr, ":")
	db := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "dcmqrscp.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("NetworkTCPPort = %s\nMaxPDUSize = 16384\nMaxAssociations = 16\n"+
		"HostTable BEGIN\ngateway = (IMGCLOUD, 127.0.0.1, %s)\nHostTable END\nVendorTable BEGIN\nVendorTable END\n"+
		"AETable BEGIN\nFAHZUPACS %s RW (200, 1024mb) ANY\nAETable END\n", pacsPort, gwPort, db)), 0o600)
	// dcmqrscp 3.6.7 crashes after its first association with
	// --single-process: it forks one child per association, all in its
	// own process group so that the test ends them together.
	pacs := exec.Command(dcmtktest.Tool(t, "dcmqrscp"), "-c", cfg, pacsPort)
	pacs.Env = append(os.Environ(), "TCP_NODELAY=1")
	pacs.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var pacsLog lockedBuffer
	pacs.Stdout, pacs.Stderr = &pacsLog, &pacsLog
	if err := pacs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-pacs.Process.Pid, syscall.SIGKILL); pacs.Wait() })

	aes := filepath.Join(t.TempDir(), "aes.yaml")
	os.WriteFile(aes, []byte("- {aet: FAHZUPACS, host: 127.0.0.1, port: "+pacsPort+", institution: fahzu, allow: [store]}\n"), 0o600)
	p := startGateway(t, t.TempDir(), "--demo", "--dicom-listen", gwAddr, "--dicom-aes", aes)

	args := []string{"-aet", "LOADER", "-aec", "FAHZUPACS", pacsHost, pacsPort}
	for _, f := range study {
		args = append(args, man.Abs(f))
	}
	var out string
	for range 50 { // dcmqrscp takes a moment to listen
		if out, err = dcmtk(t, "storescu", args...); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("storescu into dcmqrscp: %v\n%s\n%s", err, out, pacsLog.String())
	}
	code, stdout, stderr := runCLI(t, "dicom", "move", "--peer", pacsAddr, "--aet", "IMGCLOUD", "--aec", "FAHZUPACS",
		"--dest", "IMGCLOUD", "-k", "StudyInstanceUID="+study[0].StudyUID)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("status 0000, %d done, 0 failed", len(study))) {
		t.Fatalf("move: exit %d\n%s%s\n%s", code, stdout, stderr, pacsLog.String())
	}
	for _, f := range study {
		// What DCMTK's writer makes of the file (explicit lengths), as
		// dcmqrscp received and sent it: dcmconv writes the same bytes.
		ref := filepath.Join(t.TempDir(), "ref.dcm")
		if out, err := dcmtk(t, "dcmconv", man.Abs(f), ref); err != nil {
			t.Fatalf("dcmconv: %v\n%s", err, out)
		}
		src, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := wadoInstance(t, p.base, f); !bytes.Equal(dataSet(t, got), dataSet(t, src)) {
			t.Errorf("%s: moved data set (%d bytes) differs from its source (%d)", f.SOPUID, len(dataSet(t, got)), len(dataSet(t, src)))
		}
	}
	code, _, stderr = runCLI(t, "dicom", "move", "--peer", pacsAddr, "--aet", "IMGCLOUD", "--aec", "FAHZUPACS",
		"--dest", "NOWHERE", "-k", "StudyInstanceUID="+study[0].StudyUID)
	if code != 1 || !strings.Contains(stderr, "NOWHERE") {
		t.Errorf("move to an unknown destination: exit %d\n%s", code, stderr)
	}
}

// TestDICOMTLSSettings: the TLS port's settings come from the
// environment and the config file like every setting, and a TLS port
// without a certificate stops the start with the reason.
func TestDICOMTLSSettings(t *testing.T) {
	clearGatewayEnv(t)
	t.Setenv("GATEWAY_DICOM_TLS_LISTEN", "127.0.0.1:0")
	var out bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, &out, &out)
	if code == 0 || !strings.Contains(out.String(), "dicom-tls-listen: needs --dicom-tls-cert and --dicom-tls-key") {
		t.Errorf("TLS port from the environment without a certificate: exit %d\n%s", code, out.String())
	}
	clearGatewayEnv(t)
	cfg := filepath.Join(t.TempDir(), "gateway.yaml")
	os.WriteFile(cfg, []byte("dicom-tls-listen: 127.0.0.1:0\ndicom-tls-cert: /no/such/cert.pem\ndicom-tls-key: /no/such/key.pem\n"), 0o600)
	out.Reset()
	code = run(context.Background(), []string{"serve", "--config", cfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, &out, &out)
	if code == 0 || !strings.Contains(out.String(), "dicom-tls-cert") || !strings.Contains(out.String(), "/no/such/cert.pem") {
		t.Errorf("TLS port from the config file with a missing certificate: exit %d\n%s", code, out.String())
	}
}
