package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowBodyIsCut checks the wiring of --body-idle-timeout in a real
// gateway (issue 14, finding 13: 20 slow uploads were held open
// indefinitely): a STOW whose body stalls after a
// few bytes is answered 408 and its connection closed.
func TestSlowBodyIsCut(t *testing.T) {
	p := startGateway(t, t.TempDir(), "--body-idle-timeout", "300ms")
	host := strings.TrimSuffix(strings.TrimPrefix(p.base, "http://"), "/dicomweb")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second)) // a safety net only
	fmt.Fprintf(conn, "POST /dicomweb/studies HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=B\r\nAccept: application/dicom+json\r\nContent-Length: 1000000\r\n\r\n--B\r\nContent-Type: application/dicom\r\n\r\nDICM", host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "stalled") {
		t.Fatalf("stalled body: %d %s, want 408", resp.StatusCode, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection left open after a stalled body: %v", err)
	}
}
