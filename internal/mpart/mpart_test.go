package mpart

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"strings"
	"testing"
	"testing/iotest"
)

type part struct {
	ct   string
	body []byte
}

// readAll reads every part of body with this package, through a small
// reader so that delimiters straddle buffer refills.
func readAll(body []byte, boundary string, bufSize int) ([]part, error) {
	r := NewReader(bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(body)), bufSize), boundary)
	return collect(r.NextPart, func(p *Part) string { return p.Header.Get("Content-Type") })
}

// stdlibAll reads the same body with mime/multipart.
func stdlibAll(body []byte, boundary string) ([]part, error) {
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	return collect(r.NextPart, func(p *multipart.Part) string { return p.Header.Get("Content-Type") })
}

func collect[P io.Reader](next func() (P, error), contentType func(P) string) ([]part, error) {
	var out []part
	for {
		p, err := next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, part{contentType(p), b})
	}
}

func build(boundary, preamble string, parts []part, padding, epilogue string, lf bool) []byte {
	nl := "\r\n"
	if lf {
		nl = "\n"
	}
	var b bytes.Buffer
	b.WriteString(preamble)
	for _, p := range parts {
		b.WriteString("--" + boundary + padding + nl + "Content-Type: " + p.ct + nl + nl)
		b.Write(p.body)
		b.WriteString(nl)
	}
	b.WriteString("--" + boundary + "--" + epilogue)
	return b.Bytes()
}

func same(a, b []part) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ct != b[i].ct || !bytes.Equal(a[i].body, b[i].body) {
			return false
		}
	}
	return true
}

// TestRoundTrip builds bodies with binary parts full of line breaks,
// dashes and near-boundaries, with preambles, transport padding and
// epilogues, and reads back exactly the parts written, as mime/multipart
// does, whatever the buffer size.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	boundary := "XbOuNdArY-42"
	alphabet := []byte("\r\n-XbOuNdArY42\x00\xff")
	for iter := 0; iter < 3000; iter++ {
		var parts []part
		for range rng.IntN(4) + 1 {
			n := rng.IntN(3000)
			if rng.IntN(10) == 0 {
				n = rng.IntN(300000)
			}
			body := make([]byte, n)
			for i := range body {
				if rng.IntN(4) == 0 {
					body[i] = alphabet[rng.IntN(len(alphabet))]
				} else {
					body[i] = byte(rng.Uint32())
				}
			}
			if rng.IntN(3) == 0 && n > 20 {
				// A near-boundary inside the body: not followed by a valid end.
				copy(body[rng.IntN(n-20):], "\r\n--"+boundary+"x")
			}
			for bytes.Contains(body, []byte("\n--"+boundary)) {
				i := bytes.Index(body, []byte("\n--"+boundary))
				body[i] = 'n'
			}
			parts = append(parts, part{"application/dicom", body})
		}
		preamble := []string{"", "preamble line\r\n", "a\r\nb\r\n"}[rng.IntN(3)]
		padding := []string{"", " ", "\t  "}[rng.IntN(3)]
		epilogue := []string{"", "\r\n", "\r\nepilogue\r\n"}[rng.IntN(3)]
		lf := rng.IntN(8) == 0
		body := build(boundary, preamble, parts, padding, epilogue, lf)
		bufSize := []int{4096, 4099, 65536, 256 << 10}[rng.IntN(4)]
		got, err := readAll(body, boundary, bufSize)
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		if !same(got, parts) {
			t.Fatalf("iteration %d (buffer %d, lf %v): read %d parts that differ from the %d written", iter, bufSize, lf, len(got), len(parts))
		}
		if std, err := stdlibAll(body, boundary); !lf && (err != nil || !same(std, parts)) {
			t.Fatalf("iteration %d: mime/multipart disagrees with the construction (%v)", iter, err)
		}
	}
}

// TestBroken covers bodies a STOW client can get wrong: each must give an
// error (never a clean end), and the parts before the damage are whole.
func TestBroken(t *testing.T) {
	const b = "bnd"
	for _, tc := range []struct {
		name, body string
		parts      int
		want       error
	}{
		{"empty body", "", 0, io.ErrUnexpectedEOF},
		{"no boundary at all", "just some text\r\nand more\r\n", 0, io.ErrUnexpectedEOF},
		{"never closed", "--bnd\r\nContent-Type: a\r\n\r\nhello", 0, io.ErrUnexpectedEOF},
		{"never closed after a part", "--bnd\r\nContent-Type: a\r\n\r\nhello\r\n--bnd\r\nContent-Type: a\r\n\r\nwor", 1, io.ErrUnexpectedEOF},
		{"delimiter without its end", "--bnd\r\nContent-Type: a\r\n\r\nhello\r\n--bnd", 1, io.ErrUnexpectedEOF},
		{"half a closing delimiter", "--bnd\r\nContent-Type: a\r\n\r\nhello\r\n--bnd-", 1, io.ErrUnexpectedEOF},
		{"header never ends", "--bnd\r\nContent-Type: a\r\n", 0, io.ErrUnexpectedEOF},
		{"bad header line", "--bnd\r\nno colon here\r\n\r\nx\r\n--bnd--", 0, ErrFormat},
		{"text after a boundary", "--bnd\r\nContent-Type: a\r\n\r\nhello\r\n--bnd junk\r\n\r\nx\r\n--bnd--", 1, ErrFormat},
		{"huge header", "--bnd\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\nx\r\n--bnd--", 0, ErrFormat},
		{"huge preamble", strings.Repeat("line\r\n", 20000) + "--bnd--", 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll([]byte(tc.body), b, 4096)
			if !errors.Is(err, tc.want) || len(got) != tc.parts {
				t.Fatalf("got %d parts, %v; want %d parts, %v", len(got), err, tc.parts, tc.want)
			}
			for _, p := range got {
				if string(p.body) != "hello" {
					t.Fatalf("part before the damage: %q", p.body)
				}
			}
		})
	}
}

// TestEdges covers legal bodies with unusual shapes.
func TestEdges(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"no parts", "--bnd--\r\n", nil},
		{"closing delimiter without line break", "--bnd\r\nContent-Type: a\r\n\r\nx\r\n--bnd--", []string{"x"}},
		{"empty part", "--bnd\r\nContent-Type: a\r\n\r\n\r\n--bnd--", []string{""}},
		{"empty part, blank line shared", "--bnd\r\nContent-Type: a\r\n\r\n--bnd--", []string{""}},
		{"folded header", "--bnd\r\nContent-Type: a;\r\n b=c\r\n\r\nx\r\n--bnd--", []string{"x"}},
		{"boundary-like text in a part", "--bnd\r\nContent-Type: a\r\n\r\n--bndX\r\n--bnd--", []string{"--bndX"}},
		{"boundary-like line in the preamble", "--bnd junk\r\n--bndX\r\n--bnd\r\nContent-Type: a\r\n\r\nx\r\n--bnd--", []string{"x"}},
		{"LF only", "--bnd\nContent-Type: a\n\nx\ny\n--bnd--\n", []string{"x\ny"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll([]byte(tc.body), "bnd", 4096)
			if err != nil {
				t.Fatal(err)
			}
			var bodies []string
			for _, p := range got {
				bodies = append(bodies, string(p.body))
			}
			if strings.Join(bodies, "|") != strings.Join(tc.want, "|") || len(bodies) != len(tc.want) {
				t.Fatalf("parts %q, want %q", bodies, tc.want)
			}
		})
	}
}

// FuzzReader feeds arbitrary bytes: the reader must end (with parts or an
// error) without panicking, and never return more body bytes than it was
// given. Bodies that mime/multipart reads to a clean end with CRLF line
// breaks must read the same here.
func FuzzReader(f *testing.F) {
	f.Add([]byte("--bnd\r\nContent-Type: a\r\n\r\nhello\r\n--bnd--\r\n"))
	f.Add([]byte("pre\r\n--bnd \r\nContent-Type: a\r\n\r\n\r\n--bnd\r\n\r\n--bndx\r\n--bnd--"))
	f.Add([]byte("--bnd\r\n\r\n--bnd--"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := readAll(body, "bnd", 4096)
		total := 0
		for _, p := range got {
			total += len(p.body)
		}
		if total > len(body) {
			t.Fatalf("%d body bytes out of %d input bytes", total, len(body))
		}
		if err != nil || bytes.Contains(body, []byte("\n\n")) || bytes.Count(body, []byte("\n")) != bytes.Count(body, []byte("\r\n")) {
			return
		}
		if std, serr := stdlibAll(body, "bnd"); serr == nil && !same(got, std) {
			t.Fatalf("mime/multipart reads %d parts, this reader %d, or their bytes differ", len(std), len(got))
		}
	})
}

// TestErrorsAreFinal calls NextPart again after a failure and after the
// end: the same answer, not a panic or a resumed read.
func TestErrorsAreFinal(t *testing.T) {
	for body, want := range map[string]error{
		"--bnd\r\nno colon\r\n\r\nx\r\n--bnd--": ErrFormat,
		"--bnd\r\nA: b\r\n\r\nx\r\n--bnd--\r\n": io.EOF,
	} {
		r := NewReader(bufio.NewReaderSize(strings.NewReader(body), 4096), "bnd")
		for i := range 3 {
			p, err := r.NextPart()
			if p != nil {
				if _, err := io.ReadAll(p); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if !errors.Is(err, want) {
				t.Fatalf("%q, call %d: %v, want %v", body, i, err, want)
			}
		}
	}
}
