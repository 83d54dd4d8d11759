package dicomweb_test

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/imgcloud/gateway/internal/testutil/gwtest"
	"github.com/imgcloud/gateway/storage/file"
)

// beElem encodes one Explicit VR Big Endian element (short-length VRs and
// OW/SQ long form).
func beElem(group, elem uint16, vr string, value []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, group)
	binary.Write(&b, binary.BigEndian, elem)
	b.WriteString(vr)
	if vr == "OW" || vr == "OB" || vr == "SQ" {
		b.Write([]byte{0, 0})
		binary.Write(&b, binary.BigEndian, uint32(len(value)))
	} else {
		binary.Write(&b, binary.BigEndian, uint16(len(value)))
	}
	b.Write(value)
	return b.Bytes()
}

func beUS(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// TestBigEndianFrames: native frames of an instance stored in Explicit VR
// Big Endian are served as the Explicit VR Little Endian their part says.
func TestBigEndianFrames(t *testing.T) {
	const study, series, sop = "1.2.826.0.1.88.1", "1.2.826.0.1.88.1.2", "1.2.826.0.1.88.1.3"
	pixels := []uint16{0x0102, 0x0304, 0x0506, 0x0708}
	var be, le []byte
	for _, p := range pixels {
		be = binary.BigEndian.AppendUint16(be, p)
		le = binary.LittleEndian.AppendUint16(le, p)
	}
	var ds bytes.Buffer
	ds.Write(beElem(0x0008, 0x0016, "UI", gwtest.Str("1.2.840.10008.5.1.4.1.1.7", 0)))
	ds.Write(beElem(0x0008, 0x0018, "UI", gwtest.Str(sop, 0)))
	ds.Write(beElem(0x0008, 0x0060, "CS", gwtest.Str("OT", ' ')))
	ds.Write(beElem(0x0020, 0x000D, "UI", gwtest.Str(study, 0)))
	ds.Write(beElem(0x0020, 0x000E, "UI", gwtest.Str(series, 0)))
	ds.Write(beElem(0x0028, 0x0002, "US", beUS(1)))
	ds.Write(beElem(0x0028, 0x0004, "CS", gwtest.Str("MONOCHROME2", ' ')))
	ds.Write(beElem(0x0028, 0x0010, "US", beUS(2)))
	ds.Write(beElem(0x0028, 0x0011, "US", beUS(2)))
	ds.Write(beElem(0x0028, 0x0100, "US", beUS(16)))
	ds.Write(beElem(0x0028, 0x0101, "US", beUS(16)))
	ds.Write(beElem(0x0028, 0x0102, "US", beUS(15)))
	ds.Write(beElem(0x0028, 0x0103, "US", beUS(0)))
	ds.Write(beElem(0x7FE0, 0x0010, "OW", be))
	file10 := gwtest.Part10("1.2.840.10008.5.1.4.1.1.7", sop, nil)
	// Part10 announces Explicit VR Little Endian: rewrite the meta's
	// transfer syntax UID to Big Endian (same length, odd-padded).
	file10 = bytes.Replace(file10, []byte("1.2.840.10008.1.2.1\x00"), []byte("1.2.840.10008.1.2.2\x00"), 1)
	file10 = append(file10, ds.Bytes()...)

	st, _ := file.Open(t.TempDir())
	gw := gwtest.Start(t, st, gwtest.Options{})
	if resp, body := gwtest.Stow(t, gw.URL+"/studies", []gwtest.Part{{Body: file10}}); resp.StatusCode != 200 {
		t.Fatalf("STOW big endian: %d %s", resp.StatusCode, body)
	}
	base := gw.URL + "/studies/" + study + "/series/" + series + "/instances/" + sop
	resp, got := gwtest.Do(t, "GET", base+"/frames/1", map[string]string{"Accept": "application/octet-stream"}, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, le) {
		t.Fatalf("frame: %d % x, want little endian % x", resp.StatusCode, got, le)
	}
	parts := retrieveParts(t, base+"/frames/1", `multipart/related; type="application/octet-stream"`)
	if len(parts) != 1 || !bytes.Equal(parts[0].body, le) {
		t.Fatalf("multipart frame: % x", parts[0].body)
	}
	// The instance itself is served as stored, big endian.
	if p := retrieveParts(t, base, "*/*"); len(p) != 1 || !bytes.Equal(p[0].body, file10) {
		t.Fatal("instance not returned as stored")
	}
	// Rendering reads the swapped words right: 2x2 PNG answers.
	if resp, _ := gwtest.Do(t, "GET", base+"/rendered", map[string]string{"Accept": "image/png"}, nil); resp.StatusCode != 200 {
		t.Fatalf("rendered: %d", resp.StatusCode)
	}
}
