// Package gwtest runs a real gateway (archive, index, HTTP server) over a
// given object store for end-to-end tests, and builds STOW requests and
// hostile DICOM files.
package gwtest

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/httpapi/server"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/storage"
	"github.com/imgcloud/gateway/storage/file"
)

// Gateway is a running gateway on a loopback port.
type Gateway struct {
	URL   string // service root, e.g. http://127.0.0.1:PORT/dicomweb
	Store storage.Store
	DB    *index.DB
	Srv   *httptest.Server
}

// Options tune Start.
type Options struct {
	MaxRequestBytes  int64
	MaxInstanceBytes int64
	PresignRedirect  time.Duration
	// MaxStowParts, MaxAnswerBytes and BodyIdleTimeout are passed to the
	// server (zero: its defaults).
	MaxStowParts    int
	MaxAnswerBytes  int64
	BodyIdleTimeout time.Duration
	// ScanLimit bounds the rows one search examines
	// (archive.Options.MaxExamined; zero: its default).
	ScanLimit int
	// Extend, when set, is called with the index and the object store
	// before the archive is built; what it returns is wired in.
	Extend func(db *index.DB, store storage.Store) Extension
	// Codecs decode and encode compressed pixel data (nil: DefaultCodecs).
	Codecs *codec.Set
	// DecodedCacheBytes is the archive's (zero: its default).
	DecodedCacheBytes int64
}

// DefaultCodecs is the codec set of the build under test (codecs.New:
// the pure-Go codecs, and the cgo ones with -tags cgocodecs).
func DefaultCodecs() *codec.Set { return codecs.New() }

// Extension is what a domain package adds to the test gateway: archive
// hooks, middleware and JSON API routes.
type Extension struct {
	Annotators []archive.Annotator
	Observers  []archive.Observer
	Middleware []echo.MiddlewareFunc
	API        func(g *echo.Group)
}

// Start runs a gateway over store with an index in a temp dir.
func Start(t testing.TB, store storage.Store, opt Options) *Gateway {
	t.Helper()
	dir := t.TempDir()
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	var ext Extension
	if opt.Extend != nil {
		ext = opt.Extend(db, store)
	}
	svc := archive.New(store, db, archive.Options{
		TempDir: dir, MaxInstanceBytes: opt.MaxInstanceBytes, Annotators: ext.Annotators, Observers: ext.Observers,
		Visibility:  archive.Unrestricted{}, // no access middleware: tests serve no one
		MaxExamined: opt.ScanLimit,
		Codecs:      cmp.Or(opt.Codecs, DefaultCodecs()), DecodedCacheBytes: opt.DecodedCacheBytes,
	})
	sopt := server.Options{
		DICOMweb: dicomweb.Options{MaxRequestBytes: opt.MaxRequestBytes, PresignRedirect: opt.PresignRedirect,
			MaxStowParts: opt.MaxStowParts, MaxAnswerBytes: opt.MaxAnswerBytes},
		Middleware:      ext.Middleware,
		BodyIdleTimeout: opt.BodyIdleTimeout,
	}
	if ext.API != nil {
		sopt.API = append(sopt.API, ext.API)
	}
	e := server.New(svc, sopt)
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); db.Close() })
	return &Gateway{URL: srv.URL + "/dicomweb", Store: store, DB: db, Srv: srv}
}

// Part is one part of a STOW body.
type Part struct {
	ContentType string // default application/dicom
	Body        []byte
}

// FileParts reads files into parts.
func FileParts(t testing.TB, paths ...string) []Part {
	t.Helper()
	var out []Part
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Part{Body: b})
	}
	return out
}

// Multipart builds a multipart/related body and its Content-Type.
func Multipart(parts []Part) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		ct := p.ContentType
		if ct == "" {
			ct = "application/dicom"
		}
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ct}})
		w.Write(p.Body)
	}
	mw.Close()
	return buf.Bytes(), fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary())
}

// Stow posts parts to url (a /studies or /studies/{uid} URL).
func Stow(t testing.TB, url string, parts []Part) (*http.Response, []byte) {
	t.Helper()
	body, ct := Multipart(parts)
	return Do(t, http.MethodPost, url, map[string]string{"Content-Type": ct, "Accept": "application/dicom+json"}, bytes.NewReader(body))
}

// Do sends a request and reads the whole answer.
func Do(t testing.TB, method, url string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Element builders for hostile files (explicit VR little endian).

// Elem encodes one explicit VR LE element with a defined length.
func Elem(group, elem uint16, vr string, value []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, group)
	binary.Write(&b, binary.LittleEndian, elem)
	b.WriteString(vr)
	switch vr {
	case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
		b.Write([]byte{0, 0})
		binary.Write(&b, binary.LittleEndian, uint32(len(value)))
	default:
		binary.Write(&b, binary.LittleEndian, uint16(len(value)))
	}
	b.Write(value)
	return b.Bytes()
}

// Str pads a string value to even length.
func Str(s string, pad byte) []byte {
	if len(s)%2 == 1 {
		s += string(pad)
	}
	return []byte(s)
}

// Part10 wraps data set bytes (explicit VR LE) into a Part 10 file.
func Part10(sopClass, sop string, dataset []byte) []byte {
	var meta bytes.Buffer
	meta.Write(Elem(0x0002, 0x0001, "OB", []byte{0, 1}))
	meta.Write(Elem(0x0002, 0x0002, "UI", Str(sopClass, 0)))
	meta.Write(Elem(0x0002, 0x0003, "UI", Str(sop, 0)))
	meta.Write(Elem(0x0002, 0x0010, "UI", Str("1.2.840.10008.1.2.1", 0)))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(meta.Len()))
	out.Write(Elem(0x0002, 0x0000, "UL", gl))
	out.Write(meta.Bytes())
	out.Write(dataset)
	return out.Bytes()
}

// Minimal returns the identifying elements of a small valid instance.
func Minimal(study, series, sop string) []byte {
	var ds bytes.Buffer
	ds.Write(Elem(0x0008, 0x0016, "UI", Str("1.2.840.10008.5.1.4.1.1.7", 0)))
	ds.Write(Elem(0x0008, 0x0018, "UI", Str(sop, 0)))
	ds.Write(Elem(0x0008, 0x0060, "CS", Str("OT", ' ')))
	ds.Write(Elem(0x0010, 0x0010, "PN", Str("TEST^HOSTILE", ' ')))
	ds.Write(Elem(0x0010, 0x0020, "LO", Str("HOSTILE1", ' ')))
	ds.Write(Elem(0x0020, 0x000D, "UI", Str(study, 0)))
	ds.Write(Elem(0x0020, 0x000E, "UI", Str(series, 0)))
	return ds.Bytes()
}

// StoreAndIndex opens a folder store under dir/objects and an index under
// dir/index; the index closes when the test ends.
func StoreAndIndex(t testing.TB, dir string) (*file.Store, *index.DB) {
	t.Helper()
	store, err := file.Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(index.Options{Dir: filepath.Join(dir, "index")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return store, db
}
