package dicomweb_test

import (
	"bytes"
	"encoding/json"
	"image/gif"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgcloud/gateway/internal/corpus"
	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// TestFrameListsBounded replays the attacks of issue 14, finding 4: a
// frame list of 60 times frame 1 asked as an animated GIF, and 3000 times
// frame 1 on the frames route, each made an answer of any size out of one
// frame. Lists with repeats or longer than the frame count are refused
// with a 400 that says why, as is a frame out of range; and with a
// small MaxAnswerBytes, answers that would exceed it are refused before
// any byte of image is produced (the refusal is a short JSON error).
func TestFrameListsBounded(t *testing.T) {
	man := testCorpus(t)
	var ct corpus.File
	for _, f := range man.Files {
		if f.NumberOfFrames > 1 {
			ct = f
		}
	}
	if ct.NumberOfFrames < 2 {
		t.Fatal("the corpus has no multi-frame instance")
	}
	start := func(opt gwtest.Options) string {
		store, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		gw := gwtest.Start(t, store, opt)
		if resp, body := gwtest.Stow(t, gw.URL+"/studies", gwtest.FileParts(t, filepath.Join(man.Dir, ct.Path))); resp.StatusCode != 200 {
			t.Fatalf("STOW: %d %s", resp.StatusCode, body)
		}
		return gw.URL + "/studies/" + ct.StudyUID + "/series/" + ct.SeriesUID + "/instances/" + ct.SOPUID
	}
	list := func(n int, f func(i int) int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = strconv.Itoa(f(i))
		}
		return strings.Join(s, ",")
	}
	errorText := func(t *testing.T, body []byte) string {
		var e struct{ Error string }
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Fatalf("want a JSON error, got %q", body)
		}
		return e.Error
	}

	u := start(gwtest.Options{})
	ones := func(int) int { return 1 }
	for _, c := range []struct {
		name, path, accept string
		want               int
		says               string
	}{
		{"60 x frame 1 as GIF", "/frames/" + list(60, ones) + "/rendered", "image/gif", 400, "frame"},
		{"3000 x frame 1", "/frames/" + list(3000, ones), "*/*", 400, "name each frame once"},
		{"3000 x frame 1 rendered", "/frames/" + list(3000, ones) + "/rendered", "image/gif", 400, "frame"},
		{"frame 1 twice", "/frames/1,1", "*/*", 400, "frame 1 is named more than once"},
		{"out of range", "/frames/" + strconv.Itoa(ct.NumberOfFrames+1), "*/*", 400, "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, u+c.path, c.accept)
			if resp.StatusCode != c.want {
				t.Fatalf("%d (%d bytes) %.200s, want %d", resp.StatusCode, len(body), body, c.want)
			}
			if msg := errorText(t, body); !strings.Contains(msg, c.says) {
				t.Errorf("message %q does not say %q", msg, c.says)
			}
		})
	}
	// Every frame once is still served, as frames and as an animation.
	all := list(ct.NumberOfFrames, func(i int) int { return i + 1 })
	resp, body := get(t, u+"/frames/"+all, "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*")
	if resp.StatusCode != 200 {
		t.Fatalf("every frame: %d %.200s", resp.StatusCode, body)
	}
	resp, body = get(t, u+"/frames/"+all+"/rendered", "image/gif")
	if anim, err := gif.DecodeAll(bytes.NewReader(body)); resp.StatusCode != 200 || err != nil || len(anim.Image) != ct.NumberOfFrames {
		t.Fatalf("every frame as GIF: %d %v", resp.StatusCode, err)
	}
	resp, one := get(t, u+"/frames/1", "application/octet-stream")
	if resp.StatusCode != 200 {
		t.Fatalf("frame 1: %d %s", resp.StatusCode, one)
	}

	// A limit that holds one frame but not two: one frame is served; two,
	// or the whole animation, are refused before anything is produced.
	u = start(gwtest.Options{MaxAnswerBytes: int64(len(one)) + int64(len(one))/2})
	if resp, body := get(t, u+"/frames/1", "application/octet-stream"); resp.StatusCode != 200 || !bytes.Equal(body, one) {
		t.Fatalf("frame 1 under the limit: %d", resp.StatusCode)
	}
	for _, path := range []string{"/frames/1,2", "/frames/" + all + "/rendered", "/rendered"} {
		resp, body := get(t, u+path, "image/gif, */*")
		if resp.StatusCode != 400 || len(body) > 1024 {
			t.Fatalf("%s over the limit: %d, %d bytes, want a short 400", path, resp.StatusCode, len(body))
		}
		if msg := errorText(t, body); !strings.Contains(msg, "more than the") {
			t.Errorf("%s: message %q does not name the limit", path, msg)
		}
	}
}
