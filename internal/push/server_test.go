package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// stowServer is a minimal STOW-RS endpoint for tests. It checks every part
// byte for byte against the file on disk with the same SOP Instance UID.
type stowServer struct {
	t      *testing.T
	onDisk map[string]string // SOP UID -> path
	fail   map[string]bool   // SOP UIDs answered with FailureReason 272
	token  string
	delay  time.Duration
	// before may answer request n (1-based) itself; it returns true if it did.
	before func(n int, w http.ResponseWriter, r *http.Request) bool

	requests    atomic.Int32
	inflight    atomic.Int32
	maxInflight atomic.Int32

	mu       sync.Mutex
	received []request // requests that reached the multipart parsing
	seen     map[string]int
}

// request records what one accepted request carried.
type request struct {
	studies map[string]bool
	parts   int
	bytes   int64
}

func newServer(t *testing.T, onDisk map[string]string) (*stowServer, *httptest.Server) {
	s := &stowServer{t: t, onDisk: onDisk, fail: map[string]bool{}, seen: map[string]int{}}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func (s *stowServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.requests.Add(1))
	cur := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxInflight.Load()
		if cur <= m || s.maxInflight.CompareAndSwap(m, cur) {
			break
		}
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if s.before != nil && s.before(n, w, r) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/dicomweb/studies" {
		s.t.Errorf("request %s %s", r.Method, r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != "application/dicom" || params["boundary"] == "" {
		s.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength <= 0 {
		s.t.Errorf("no Content-Length")
	}
	req := request{studies: map[string]bool{}}
	var referenced, failed []map[string]any
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.t.Errorf("multipart: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := part.Header.Get("Content-Type"); ct != "application/dicom" {
			s.t.Errorf("part Content-Type %q", ct)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			s.t.Errorf("read part: %v", err)
			return
		}
		req.parts++
		req.bytes += int64(len(data))
		ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipPixelData())
		if err != nil {
			s.t.Errorf("parse part: %v", err)
			continue
		}
		sop := elemString(ds, tag.SOPInstanceUID)
		req.studies[elemString(ds, tag.StudyInstanceUID)] = true
		path, ok := s.onDisk[sop]
		if !ok {
			s.t.Errorf("unknown SOP %s", sop)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(data, want) {
			s.t.Errorf("part for %s differs from the file on disk (%v)", path, err)
		}
		ref := map[string]any{
			"00081150": map[string]any{"vr": "UI", "Value": []string{elemString(ds, tag.SOPClassUID)}},
			"00081155": map[string]any{"vr": "UI", "Value": []string{sop}},
		}
		if s.fail[sop] {
			ref["00081197"] = map[string]any{"vr": "US", "Value": []int{272}}
			ref["00000902"] = map[string]any{"vr": "LO", "Value": []string{"refused by the test server"}}
			failed = append(failed, ref)
		} else {
			referenced = append(referenced, ref)
		}
		s.mu.Lock()
		s.seen[sop]++
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.received = append(s.received, req)
	s.mu.Unlock()

	resp := map[string]any{}
	status := http.StatusOK
	if len(referenced) > 0 {
		resp["00081199"] = map[string]any{"vr": "SQ", "Value": referenced}
	}
	if len(failed) > 0 {
		resp["00081198"] = map[string]any{"vr": "SQ", "Value": failed}
		status = http.StatusAccepted
		if len(referenced) == 0 {
			status = http.StatusConflict
		}
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
}

func elemString(ds dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return ""
	}
	return firstString(e)
}

// requestsReceived returns a copy of the accepted requests.
func (s *stowServer) requestsReceived() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.received...)
}

func (s *stowServer) String() string {
	return fmt.Sprintf("%d requests", s.requests.Load())
}

// firstString returns the first string value of an element, or "".
func firstString(e *dicom.Element) string {
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return v[0]
	}
	return ""
}
