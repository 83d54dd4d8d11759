package dicomweb_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imgcloud/gateway/dicomweb"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

func readStowAnswer(t *testing.T, body []byte) (stored []string, failed int, comments []string) {
	t.Helper()
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer is not a Store Instances Response: %v: %.300s", err, body)
	}
	var ref, fail struct {
		Value []map[string]struct{ Value []any }
	}
	for tag, v := range map[string]any{"00081199": &ref, "00081198": &fail} {
		if a[tag] != nil {
			if err := json.Unmarshal(a[tag], v); err != nil {
				t.Fatalf("%s: %v", tag, err)
			}
		}
	}
	for _, it := range ref.Value {
		stored = append(stored, fmt.Sprint(it["00081155"].Value[0]))
	}
	for _, it := range fail.Value {
		comments = append(comments, fmt.Sprint(it["00000902"].Value[0]))
	}
	return stored, len(fail.Value), comments
}

func startStore(t *testing.T, opt gwtest.Options) *gwtest.Gateway {
	t.Helper()
	store, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return gwtest.Start(t, store, opt)
}

func minimalPart(i int) gwtest.Part {
	study, series, sop := "1.2.826.0.1.77.1", "1.2.826.0.1.77.1.1", fmt.Sprintf("1.2.826.0.1.77.1.1.%d", i)
	return gwtest.Part{Body: gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, gwtest.Minimal(study, series, sop))}
}

// TestStowPartsLimit replays issue 14, finding 13: a STOW request of
// 20,000 tiny parts (the attack sent 400,000 and got a 48.8 MB answer).
// The gateway reads DefaultMaxStowParts parts, then answers 413 with a
// Store Instances Response that lists what it stored and says why the rest
// was not read; the answer's size is bounded by the part limit, and the
// instances stored before the limit stay stored.
func TestStowPartsLimit(t *testing.T) {
	gw := startStore(t, gwtest.Options{})
	parts := []gwtest.Part{minimalPart(1), minimalPart(2), minimalPart(3)}
	for len(parts) < 20000 {
		parts = append(parts, gwtest.Part{Body: []byte("x")})
	}
	resp, body := gwtest.Stow(t, gw.URL+"/studies", parts)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("20,000 parts: %d (%d bytes) %.300s, want 413", resp.StatusCode, len(body), body)
	}
	stored, failed, comments := readStowAnswer(t, body)
	if len(stored) != 3 || failed != dicomweb.DefaultMaxStowParts-3+1 {
		t.Fatalf("answer lists %d stored and %d failed, want 3 and %d", len(stored), failed, dicomweb.DefaultMaxStowParts-2)
	}
	if last := comments[len(comments)-1]; !strings.Contains(last, fmt.Sprintf("more than %d parts", dicomweb.DefaultMaxStowParts)) {
		t.Errorf("last failure says %q, want the part limit", last)
	}
	// One item per part read, each of bounded size once 64 KiB of error
	// comments are written in full (whatever the parts hold).
	if limit := (dicomweb.DefaultMaxStowParts+1)*512 + 64<<10; len(body) > limit {
		t.Errorf("answer of %d bytes, more than %d", len(body), limit)
	}
	t.Logf("20,000 parts: 413 with a %d-byte answer", len(body))
	for _, sop := range stored {
		u := gw.URL + "/wado?requestType=WADO&studyUID=1.2.826.0.1.77.1&seriesUID=1.2.826.0.1.77.1.1&objectUID=" + sop + "&contentType=application/dicom"
		if resp, _ := get(t, u, "*/*"); resp.StatusCode != 200 {
			t.Errorf("instance %s listed as stored: %d", sop, resp.StatusCode)
		}
	}
}

// slowPost opens a connection and sends a STOW request whose body
// (Content-Length given) arrives as feed writes it; it returns the status
// line and whether the server then closed the connection.
func slowPost(t *testing.T, gw *gwtest.Gateway, size int, feed func(w io.Writer) error) (status string, answer []byte, closed bool) {
	t.Helper()
	u, _ := url.Parse(gw.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A safety net against a hanging test, never the assertion.
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "POST /dicomweb/studies HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=B\r\nAccept: application/dicom+json\r\nContent-Length: %d\r\n\r\n", u.Host, size)
	go feed(conn)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.Status, answer, err == io.EOF
}

// TestStowBodyIdle replays issue 14, finding 13's slow uploads: a client
// that sends a few bytes and stalls, and one that trickles a byte now and
// then, are cut after the configured idle timeout (408, connection
// closed), with the instance already received listed as stored; an upload
// that keeps arriving at a steady pace for many idle periods is not cut.
func TestStowBodyIdle(t *testing.T) {
	const idle = 300 * time.Millisecond
	gw := startStore(t, gwtest.Options{BodyIdleTimeout: idle})
	first, _ := gwtest.Multipart([]gwtest.Part{minimalPart(10)})
	// The multipart writer picks its own boundary: use B.
	b := bytes.Index(first, []byte("\r\n"))
	boundary := string(first[2:b])
	first = bytes.ReplaceAll(first, []byte(boundary), []byte("B"))
	head := bytes.TrimSuffix(first, []byte("--B--\r\n")) // the first part, then the next delimiter
	head = append(head, "--B\r\nContent-Type: application/dicom\r\n\r\nDICM"...)

	t.Run("stall", func(t *testing.T) {
		status, answer, closed := slowPost(t, gw, len(head)+1<<20, func(w io.Writer) error {
			_, err := w.Write(head)
			return err // then nothing more
		})
		if !strings.HasPrefix(status, "408") || !closed {
			t.Fatalf("stalled body: %s, closed %v: %s", status, closed, answer)
		}
		stored, _, comments := readStowAnswer(t, answer)
		if len(stored) != 1 || !strings.Contains(strings.Join(comments, " "), "request body stalled") {
			t.Errorf("answer lists %v stored, says %q", stored, comments)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		status, answer, closed := slowPost(t, gw, 1<<20, func(w io.Writer) error {
			if _, err := io.WriteString(w, "--B\r\nContent-Type: application/dicom\r\n\r\n"); err != nil {
				return err
			}
			for {
				time.Sleep(idle / 10)
				if _, err := w.Write([]byte{0}); err != nil {
					return err
				}
			}
		})
		if !strings.HasPrefix(status, "408") || !closed {
			t.Fatalf("trickled body: %s, closed %v: %s", status, closed, answer)
		}
	})
	t.Run("steady", func(t *testing.T) {
		var parts []gwtest.Part
		for i := range 400 {
			parts = append(parts, minimalPart(100+i))
		}
		body, ct := gwtest.Multipart(parts)
		pr, pw := io.Pipe()
		go func() {
			// About 5 idle periods in all, 4 KiB at a time.
			for len(body) > 0 {
				n := min(4096, len(body))
				if _, err := pw.Write(body[:n]); err != nil {
					return
				}
				body = body[n:]
				time.Sleep(idle / 4)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", gw.URL+"/studies", pr)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", "application/dicom+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("steady upload: %d %s", resp.StatusCode, answer)
		}
	})
}
