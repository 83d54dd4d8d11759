package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/dimse"
	"github.com/imgcloud/gateway/internal/progress"
)

var dicomCommands = group{name: "dicom", summary: "the gateway's own DICOM SCU: test a link to a PACS, send a folder, query, or ask a PACS to move a study", subs: []subcommand{
	{"echo", "C-ECHO a peer: is the link up and does it accept our AE title?",
		"gateway dicom echo --peer 10.20.0.7:104 --aet IMGCLOUD --aec XY_PACS"},
	{"store", "send the DICOM files under folders or files with C-STORE over N associations (progress bar)",
		"gateway dicom store --peer 127.0.0.1:11112 --aet DEMO -n 4 ./study-folder"},
	{"find", "C-FIND a peer (Study Root) and print the matches as a table or JSON",
		`gateway dicom find --peer 10.20.0.7:104 --aec XY_PACS --level STUDY -k "PatientName=li*" -k StudyDate -k StudyInstanceUID`},
	{"move", "ask a peer to C-MOVE a study (or series, instance) to a destination AE, such as this gateway",
		"gateway dicom move --peer 10.20.0.7:104 --aec XY_PACS --dest IMGCLOUD -k StudyInstanceUID=1.2.3"},
}}

// scuFlags are the association settings every dicom subcommand takes.
type scuFlags struct {
	peer, aet, aec      string
	tls                 bool
	cert, key, ca       string
	timeout             time.Duration
	keys                keyList
	level, root, format string
}

// keyList collects repeated -k KEY[=VALUE] flags.
type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ", ") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

func bindSCU(fs *flag.FlagSet, query bool) *scuFlags {
	f := &scuFlags{peer: "127.0.0.1:11112", aet: "GATEWAY", aec: "IMGCLOUD", timeout: 30 * time.Second, level: "STUDY", root: "study", format: "table"}
	str(fs, &f.peer, "peer", "the peer's DICOM port, host:port")
	str(fs, &f.aet, "aet", "our (calling) AE title")
	str(fs, &f.aec, "aec", "the peer's (called) AE title")
	boolean(fs, &f.tls, "tls", "DICOM TLS (PS3.15 B.1, TLS 1.2+)")
	str(fs, &f.cert, "tls-cert", "PEM client certificate for --tls (a peer that requires one)")
	str(fs, &f.key, "tls-key", "PEM private key of --tls-cert")
	str(fs, &f.ca, "tls-ca", "PEM CA certificates that sign the peer's certificate (default: the system's)")
	duration(fs, &f.timeout, "timeout", "bound on connecting and on each read and write")
	if query {
		fs.Var(&f.keys, "k", "query key, repeated: KEYWORD=VALUE to match, KEYWORD alone to return (e.g. -k PatientName=li* -k StudyDate)")
		str(fs, &f.level, "level", "QueryRetrieveLevel: STUDY, SERIES or IMAGE")
		str(fs, &f.root, "root", "information model: study or patient (root)")
	}
	return f
}

func (f *scuFlags) tlsConfig() (*tls.Config, error) {
	if !f.tls {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.cert != "" || f.key != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("tls-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if f.ca != "" {
		b, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls-ca %s: no PEM certificate", f.ca)
		}
	}
	return cfg, nil
}

// dial requests an association; a rejection says why in words.
func (f *scuFlags) dial(ctx context.Context, contexts []dimse.PresentationContext) (*dimse.Client, error) {
	cfg, err := f.tlsConfig()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := dimse.Dial(dctx, f.peer, dimse.ClientOptions{CallingAE: f.aet, CalledAE: f.aec, Contexts: contexts, Timeout: f.timeout, TLS: cfg})
	var rj *dimse.RejectError
	if errors.As(err, &rj) {
		return nil, fmt.Errorf("association %s -> %s at %s %s", f.aet, f.aec, f.peer, rj.Why())
	}
	if err != nil {
		return nil, fmt.Errorf("associate with %s at %s: %w", f.aec, f.peer, err)
	}
	return c, nil
}

// dicomCmd: gateway dicom echo|store|find|move.
func dicomCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, err := dicomCommands.dispatch(args, stdout, stderr)
	if err != nil {
		return err
	}
	use := map[string]string{"echo": " [flags]", "store": " [flags] PATH...", "find": " [flags] -k KEY[=VALUE]...", "move": " --dest AET [flags] -k KEY=VALUE..."}[name]
	fs := flag.NewFlagSet("dicom "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dicomCommands.help(name, use).install(fs)
	f := bindSCU(fs, name == "find" || name == "move")
	conc, quiet, dest := 1, false, ""
	switch name {
	case "store":
		fs.IntVar(&conc, "n", 1, "parallel associations")
		fs.BoolVar(&quiet, "q", false, "no progress bar")
	case "find":
		str(fs, &f.format, "format", "table or json")
	case "move":
		str(fs, &dest, "dest", "the destination AE title (the peer must know it)")
	}
	if err := parseSettings(fs, args[1:]); err != nil {
		return err
	}
	switch name {
	case "echo":
		return dicomEcho(ctx, f, stdout)
	case "store":
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: give files or folders to send (gateway dicom store -h)", errUsage)
		}
		var bar io.Writer = stderr
		if quiet {
			bar = nil
		}
		return dicomStore(ctx, f, fs.Args(), max(conc, 1), bar, stdout)
	case "find":
		return dicomFind(ctx, f, stdout)
	case "move":
		if dest == "" {
			return fmt.Errorf("%w: --dest is required (gateway dicom move -h)", errUsage)
		}
		return dicomMove(ctx, f, dest, stdout)
	}
	return nil
}

const verificationUID = "1.2.840.10008.1.1"

func dicomEcho(ctx context.Context, f *scuFlags, stdout io.Writer) error {
	start := time.Now()
	c, err := f.dial(ctx, []dimse.PresentationContext{{AbstractSyntax: verificationUID, TransferSyntaxes: []string{dcm.ImplicitVRLittleEndian}}})
	if err != nil {
		return err
	}
	st, err := c.Echo()
	if err != nil {
		c.Abort()
		return fmt.Errorf("C-ECHO %s: %w", f.aec, err)
	}
	c.Release()
	if st != 0 {
		return fmt.Errorf("C-ECHO %s at %s: status %04X", f.aec, f.peer, st)
	}
	fmt.Fprintf(stdout, "C-ECHO %s -> %s at %s: success in %s\n", f.aet, f.aec, f.peer, time.Since(start).Round(time.Millisecond))
	return nil
}

// part10 is a DICOM file to send: its SOP class and instance, its
// transfer syntax, and where its data set starts.
type part10 struct {
	path                 string
	class, instance, ts  string
	dataOffset, fileSize int64
}

// readPart10 reads the file meta information (PS3.10 7.1) of a file; ok
// is false for a file that is not Part 10.
func readPart10(path string) (part10, bool, error) {
	p := part10{path: path}
	fh, err := os.Open(path)
	if err != nil {
		return p, false, err
	}
	defer fh.Close()
	head := make([]byte, 132)
	if _, err := io.ReadFull(fh, head); err != nil || string(head[128:]) != "DICM" {
		return p, false, nil
	}
	st, err := fh.Stat()
	if err != nil {
		return p, false, err
	}
	p.fileSize = st.Size()
	// Group 0002 is explicit VR little endian; 64 KiB is far more than
	// any file meta information.
	meta := make([]byte, 64<<10)
	n, _ := io.ReadFull(fh, meta)
	meta = meta[:n]
	off := 0
	for off+8 <= len(meta) && binary.LittleEndian.Uint16(meta[off:]) == 2 {
		elem, vr := binary.LittleEndian.Uint16(meta[off+2:]), string(meta[off+4:off+6])
		hdr, l := 8, int(binary.LittleEndian.Uint16(meta[off+6:]))
		if vr == "OB" || vr == "UN" || vr == "SQ" || vr == "UT" {
			if off+12 > len(meta) {
				break
			}
			hdr, l = 12, int(binary.LittleEndian.Uint32(meta[off+8:]))
		}
		if off+hdr+l > len(meta) {
			return p, false, fmt.Errorf("%s: file meta information runs past 64 KiB", path)
		}
		v := strings.TrimRight(string(meta[off+hdr:off+hdr+l]), " \x00")
		switch elem {
		case 0x0002:
			p.class = v
		case 0x0003:
			p.instance = v
		case 0x0010:
			p.ts = v
		}
		off += hdr + l
	}
	if p.class == "" || p.instance == "" || p.ts == "" {
		return p, false, fmt.Errorf("%s: file meta information lacks the SOP class, instance or transfer syntax", path)
	}
	p.dataOffset = 132 + int64(off)
	return p, true, nil
}

// collect finds the Part 10 files under paths (files or folders).
func collect(paths []string) ([]part10, int, error) {
	var files []part10
	skipped := 0
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			p, ok, err := readPart10(path)
			if err != nil {
				return err
			}
			if !ok {
				skipped++
				return nil
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", root, err)
		}
	}
	return files, skipped, nil
}

// storeContexts proposes one presentation context per SOP class and
// transfer syntax of the files (at most 128, PS3.8 odd ids 1-255).
func storeContexts(files []part10) ([]dimse.PresentationContext, error) {
	seen := map[[2]string]bool{}
	var out []dimse.PresentationContext
	for _, f := range files {
		k := [2]string{f.class, f.ts}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, dimse.PresentationContext{AbstractSyntax: f.class, TransferSyntaxes: []string{f.ts}})
	}
	if len(out) > 128 {
		return nil, fmt.Errorf("the files hold %d pairs of SOP class and transfer syntax; one association proposes at most 128", len(out))
	}
	return out, nil
}

// storeFailure is one file the peer did not store.
type storeFailure struct {
	path, why string
}

func dicomStore(ctx context.Context, f *scuFlags, paths []string, n int, barOut, stdout io.Writer) error {
	files, skipped, err := collect(paths)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no DICOM (Part 10) file under %s", strings.Join(paths, ", "))
	}
	contexts, err := storeContexts(files)
	if err != nil {
		return err
	}
	bar := progress.New(barOut, int64(len(files)), "instances")
	start := time.Now()
	var mu sync.Mutex
	var failed []storeFailure
	var bytesSent int64
	fail := func(p part10, why string) {
		mu.Lock()
		failed = append(failed, storeFailure{p.path, why})
		mu.Unlock()
		bar.AddFailed(1)
	}
	n = min(n, len(files))
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []part10
			for i := w; i < len(files); i += n {
				mine = append(mine, files[i])
			}
			c, err := f.dial(ctx, contexts)
			if err != nil {
				for _, p := range mine {
					fail(p, err.Error())
				}
				return
			}
			defer c.Release()
			for i, p := range mine {
				if ctx.Err() != nil {
					fail(p, "interrupted")
					continue
				}
				id, ok := c.ContextFor(p.class, p.ts)
				if !ok {
					fail(p, fmt.Sprintf("the peer accepts no presentation context for SOP class %s in %s", p.class, p.ts))
					continue
				}
				st, comment, sent, err := storeFile(c, id, p)
				switch {
				case errors.Is(err, errOpenFile):
					fail(p, err.Error())
				case errors.Is(err, errReadFile):
					fail(p, err.Error())
					c.Abort() // the data set was cut short: the association is unusable
					for _, q := range mine[i+1:] {
						fail(q, "association aborted after a read error")
					}
					return
				case err != nil:
					// The association is gone: the rest of this share fails.
					for _, q := range mine[i:] {
						fail(q, "association lost: "+err.Error())
					}
					return
				case st == 0 || st&0xF000 == 0xB000:
					mu.Lock()
					bytesSent += sent
					mu.Unlock()
					bar.Add(1)
				default:
					why := fmt.Sprintf("status %04X", st)
					if comment != "" {
						why += ": " + comment
					}
					fail(p, why)
				}
			}
		}()
	}
	wg.Wait()
	bar.Finish()
	el := time.Since(start)
	stored := len(files) - len(failed)
	fmt.Fprintf(stdout, "stored %d of %d instance(s) (%s) in %s over %d association(s), %.0f instances/s", stored, len(files),
		progress.Size(bytesSent), el.Round(time.Millisecond), n, float64(stored)/max(el.Seconds(), 1e-9))
	if skipped > 0 {
		fmt.Fprintf(stdout, "; %d file(s) not DICOM skipped", skipped)
	}
	fmt.Fprintln(stdout)
	if len(failed) == 0 {
		return nil
	}
	// Grouped by reason, with one file named per reason.
	byWhy := map[string][]string{}
	for _, fl := range failed {
		byWhy[fl.why] = append(byWhy[fl.why], fl.path)
	}
	whys := make([]string, 0, len(byWhy))
	for w := range byWhy {
		whys = append(whys, w)
	}
	sort.Strings(whys)
	for _, w := range whys {
		fmt.Fprintf(stdout, "  %d failed: %s (e.g. %s)\n", len(byWhy[w]), w, byWhy[w][0])
	}
	return fmt.Errorf("%d of %d DICOM files failed (reasons above)", len(failed), len(files))
}

// errOpenFile marks a file that could not be opened (nothing was sent);
// errReadFile one that could not be read while it was sent.
var (
	errOpenFile = errors.New("open file")
	errReadFile = errors.New("read file")
)

// storeFile streams a file's data set (the part a C-STORE carries) on
// context id, so that memory stays flat whatever the file's size.
func storeFile(c *dimse.Client, id byte, p part10) (status uint16, comment string, sent int64, err error) {
	fh, err := os.Open(p.path)
	if err != nil {
		return 0, "", 0, fmt.Errorf("%w %s: %w", errOpenFile, p.path, err)
	}
	defer fh.Close()
	if _, err := fh.Seek(p.dataOffset, io.SeekStart); err != nil {
		return 0, "", 0, fmt.Errorf("%w %s: %w", errOpenFile, p.path, err)
	}
	r := &readErr{r: bufio.NewReaderSize(fh, 256<<10)}
	status, comment, err = c.StoreFrom(id, p.class, p.instance, "", 0, r)
	if r.err != nil {
		return 0, "", 0, fmt.Errorf("%w %s: %w", errReadFile, p.path, r.err)
	}
	return status, comment, p.fileSize - p.dataOffset, err
}

// readErr remembers a read error, to tell it from a network one.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// Query/Retrieve information models (PS3.4 C.6).
const (
	studyRootFind   = "1.2.840.10008.5.1.4.1.2.2.1"
	patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
	studyRootMove   = "1.2.840.10008.5.1.4.1.2.2.2"
	patientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
)

// C-FIND and C-MOVE command fields and elements (PS3.7 E.1).
const (
	cmdFind            = 0x0020
	cmdMove            = 0x0021
	tagMoveDestination = 0x0600
	tagRemaining       = 0x1020
	tagCompleted       = 0x1021
	tagFailedOps       = 0x1022
	tagWarningOps      = 0x1023
)

// queryKey is one -k key: its tag ("00100010"), VR and value.
type queryKey struct {
	tag, keyword, vr, value string
}

// parseKeys reads -k flags (keywords or GGGG,EEEE) and adds the level.
func parseKeys(keys []string, level string) ([]queryKey, error) {
	level = strings.ToUpper(level)
	switch level {
	case "PATIENT", "STUDY", "SERIES", "IMAGE":
	default:
		return nil, fmt.Errorf("%w: --level %q is none of PATIENT, STUDY, SERIES, IMAGE", errUsage, level)
	}
	out := []queryKey{{tag: "00080052", keyword: "QueryRetrieveLevel", vr: "CS", value: level}}
	utf8 := false
	for _, k := range keys {
		name, value, _ := strings.Cut(k, "=")
		name = strings.TrimSpace(name)
		tag, ok := dcm.TagForKeyword(name)
		if !ok {
			if g, e, found := strings.Cut(name, ","); found && len(g) == 4 && len(e) == 4 {
				tag, ok = strings.ToUpper(g+e), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: -k %q: %q is no data dictionary keyword (nor GGGG,EEEE)", errUsage, k, name)
		}
		vr := dcm.VRForTag(tag)
		if vr == "SQ" {
			return nil, fmt.Errorf("%w: -k %q: sequences are not query keys here", errUsage, k)
		}
		for _, r := range value {
			if r > 0x7F {
				utf8 = true
			}
		}
		out = append(out, queryKey{tag: tag, keyword: dcm.KeywordForTag(tag), vr: vr, value: value})
	}
	if utf8 {
		out = append(out, queryKey{tag: "00080005", keyword: "SpecificCharacterSet", vr: "CS", value: "ISO_IR 192"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tag < out[j].tag })
	return out, nil
}

// encodeKeys writes the identifier in little endian, implicit or
// explicit VR.
func encodeKeys(keys []queryKey, implicit bool) []byte {
	var b []byte
	for _, k := range keys {
		var g, e uint16
		fmt.Sscanf(k.tag, "%04X%04X", &g, &e)
		v := []byte(k.value)
		if len(v)%2 == 1 {
			if k.vr == "UI" {
				v = append(v, 0)
			} else {
				v = append(v, ' ')
			}
		}
		b = binary.LittleEndian.AppendUint16(b, g)
		b = binary.LittleEndian.AppendUint16(b, e)
		switch {
		case implicit:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		case strings.Contains("OB OW OF UT UN UC UR OD OL OV SV UV", k.vr):
			b = append(b, k.vr...)
			b = append(b, 0, 0)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		default:
			b = append(b, k.vr...)
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		}
		b = append(b, v...)
	}
	return b
}

// decodeMatch reads the top-level text elements of an answer, decoded
// from its SpecificCharacterSet; sequences and binary values are left out.
func decodeMatch(b []byte, implicit bool) map[string]string {
	out := map[string]string{}
	for len(b) >= 8 {
		tag := fmt.Sprintf("%04X%04X", binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]))
		vr, hdr, n := "", 8, uint32(0)
		if implicit {
			vr, n = dcm.VRForTag(tag), binary.LittleEndian.Uint32(b[4:])
		} else {
			vr = string(b[4:6])
			if strings.Contains("OB OW OF SQ UT UN UC UR OD OL OV SV UV", vr) {
				if len(b) < 12 {
					break
				}
				hdr, n = 12, binary.LittleEndian.Uint32(b[8:])
			} else {
				n = uint32(binary.LittleEndian.Uint16(b[6:]))
			}
		}
		if n == math.MaxUint32 || uint64(n) > uint64(len(b)-hdr) {
			break // undefined length or truncated: keep what was read
		}
		if !strings.Contains("SQ OB OW OF OD OL OV UN US SS UL SL FL FD AT SV UV", vr) {
			out[tag] = strings.TrimRight(string(b[hdr:hdr+int(n)]), " \x00")
		}
		b = b[hdr+int(n):]
	}
	if cs := out["00080005"]; cs != "" {
		for t, v := range out {
			out[t] = dcm.DecodeText(cs, v)
		}
	}
	return out
}

func (f *scuFlags) model(find bool) (string, error) {
	switch strings.ToLower(f.root) {
	case "study":
		if find {
			return studyRootFind, nil
		}
		return studyRootMove, nil
	case "patient":
		if find {
			return patientRootFind, nil
		}
		return patientRootMove, nil
	}
	return "", fmt.Errorf("%w: --root %q is neither study nor patient", errUsage, f.root)
}

// request sends a C-FIND or C-MOVE and calls each pending response.
func (f *scuFlags) request(ctx context.Context, find bool, dest string, each func(rsp dimse.Command, data []byte, implicit bool) error) (dimse.Command, error) {
	keys, err := parseKeys(f.keys, f.level)
	if err != nil {
		return nil, err
	}
	model, err := f.model(find)
	if err != nil {
		return nil, err
	}
	c, err := f.dial(ctx, []dimse.PresentationContext{{AbstractSyntax: model, TransferSyntaxes: []string{dcm.ExplicitVRLittleEndian, dcm.ImplicitVRLittleEndian}}})
	if err != nil {
		return nil, err
	}
	id, ts, ok := c.Context(model)
	if !ok {
		c.Abort()
		return nil, fmt.Errorf("%s at %s does not accept the %s root model (%s)", f.aec, f.peer, f.root, model)
	}
	implicit := ts == dcm.ImplicitVRLittleEndian
	cmd := dimse.Command{}
	cmd.SetString(dimse.TagAffectedSOPClassUID, model)
	cmd.SetU16(dimse.TagMessageID, c.NextMessageID())
	cmd.SetU16(dimse.TagPriority, 0)
	if find {
		cmd.SetU16(dimse.TagCommandField, cmdFind)
	} else {
		cmd.SetU16(dimse.TagCommandField, cmdMove)
		cmd.SetString(tagMoveDestination, dest)
	}
	if err := c.SendMessage(id, cmd, encodeKeys(keys, implicit)); err != nil {
		c.Abort()
		return nil, fmt.Errorf("send the request to %s: %w", f.aec, err)
	}
	for {
		rsp, data, err := c.ReadMessage()
		if err != nil {
			c.Abort()
			return nil, fmt.Errorf("read the answer of %s: %w", f.aec, err)
		}
		st, _ := rsp.U16(dimse.TagStatus)
		if st == 0xFF00 || st == 0xFF01 {
			if err := each(rsp, data, implicit); err != nil {
				c.Abort()
				return nil, err
			}
			continue
		}
		c.Release()
		return rsp, nil
	}
}

// statusError names a final status that is not success.
func statusError(op, aec string, rsp dimse.Command) error {
	st, _ := rsp.U16(dimse.TagStatus)
	if st == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s by %s: status %04X", op, aec, st)
	if c := rsp.String(dimse.TagErrorComment); c != "" {
		msg += ": " + c
	}
	return errors.New(msg)
}

func dicomFind(ctx context.Context, f *scuFlags, stdout io.Writer) error {
	keys, err := parseKeys(f.keys, f.level)
	if err != nil {
		return err
	}
	var matches []map[string]string
	rsp, err := f.request(ctx, true, "", func(_ dimse.Command, data []byte, implicit bool) error {
		matches = append(matches, decodeMatch(data, implicit))
		return nil
	})
	if err != nil {
		return err
	}
	var cols []queryKey
	for _, k := range keys {
		if k.tag != "00080005" && k.tag != "00080052" {
			cols = append(cols, k)
		}
	}
	switch f.format {
	case "json":
		out := make([]map[string]string, 0, len(matches))
		for _, m := range matches {
			row := map[string]string{}
			for _, k := range cols {
				row[k.keyword] = m[k.tag]
			}
			out = append(out, row)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	case "table":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		var head bytes.Buffer
		for i, k := range cols {
			if i > 0 {
				head.WriteByte('\t')
			}
			head.WriteString(k.keyword)
		}
		fmt.Fprintln(tw, head.String())
		for _, m := range matches {
			vals := make([]string, len(cols))
			for i, k := range cols {
				vals[i] = m[k.tag]
			}
			fmt.Fprintln(tw, strings.Join(vals, "\t"))
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d match(es)\n", len(matches))
	default:
		return fmt.Errorf("%w: --format %q is neither table nor json", errUsage, f.format)
	}
	return statusError("C-FIND", f.aec, rsp)
}

func dicomMove(ctx context.Context, f *scuFlags, dest string, stdout io.Writer) error {
	start := time.Now()
	counts := func(rsp dimse.Command) (rem, done, failed, warn uint16) {
		rem, _ = rsp.U16(tagRemaining)
		done, _ = rsp.U16(tagCompleted)
		failed, _ = rsp.U16(tagFailedOps)
		warn, _ = rsp.U16(tagWarningOps)
		return
	}
	rsp, err := f.request(ctx, false, dest, func(rsp dimse.Command, _ []byte, _ bool) error {
		rem, done, failed, warn := counts(rsp)
		fmt.Fprintf(stdout, "C-MOVE to %s: %d done, %d failed, %d warning(s), %d remaining\n", dest, done, failed, warn, rem)
		return nil
	})
	if err != nil {
		return err
	}
	_, done, failed, warn := counts(rsp)
	st, _ := rsp.U16(dimse.TagStatus)
	fmt.Fprintf(stdout, "C-MOVE to %s finished in %s: status %04X, %d done, %d failed, %d warning(s)\n", dest, time.Since(start).Round(time.Millisecond), st, done, failed, warn)
	if st == 0xA801 {
		return fmt.Errorf("C-MOVE by %s: status A801: the peer does not know the destination %s (its AE list needs it)", f.aec, dest)
	}
	if st&0xF000 == 0xB000 {
		return fmt.Errorf("C-MOVE by %s: %d sub-operation(s) failed (status %04X)", f.aec, failed, st)
	}
	return statusError("C-MOVE", f.aec, rsp)
}
