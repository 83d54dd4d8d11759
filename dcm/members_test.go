package dcm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomSet makes a data set of up to n elements whose tags come from a
// small pool, so that two sets share some.
func randomSet(r *rand.Rand, n int) Dataset {
	d := Dataset{}
	for i := r.IntN(n + 1); i > 0; i-- {
		t := fmt.Sprintf("00%02X%04X", 8+r.IntN(4), r.IntN(6))
		switch r.IntN(3) {
		case 0:
			d[t] = &Element{VR: "LO", Value: []any{fmt.Sprintf("v\"%d\\张", r.IntN(100))}}
		case 1:
			d[t] = &Element{VR: "IS", Value: []any{float64(r.IntN(1000))}}
		default:
			d[t] = &Element{VR: "PN"}
		}
	}
	return d
}

// Merging encoded members gives the bytes of encoding the merged data set,
// the over set's elements winning.
func TestMembersMergeMatchesDatasetJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 2000; k++ {
		base, over := randomSet(r, 8), randomSet(r, 5)
		mb, err := EncodeMembers(base)
		if err != nil || mb == nil {
			t.Fatalf("encode %v: %v", base, err)
		}
		mo, err := EncodeMembers(over)
		if err != nil || mo == nil {
			t.Fatalf("encode %v: %v", over, err)
		}
		merged := Dataset{}
		for t, e := range base {
			merged[t] = e
		}
		for t, e := range over {
			merged[t] = e
		}
		want, err := merged.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := mb.AppendObject([]byte("x"), mo)
		if !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("base %s over %s:\n got %s\nwant %s", mustJSON(base), mustJSON(over), got, want)
		}
		if alone := mb.AppendObject(nil, nil); !bytes.Equal(alone, mustJSON(base)) {
			t.Fatalf("alone: got %s want %s", alone, mustJSON(base))
		}
		if !json.Valid(got[1:]) {
			t.Fatalf("invalid JSON %s", got)
		}
	}
}

func TestEncodeMembersRefusesNonTagKeys(t *testing.T) {
	m, err := EncodeMembers(Dataset{"PatientName": {VR: "PN"}})
	if m != nil || err != nil {
		t.Fatalf("got %v, %v; want nil, nil", m, err)
	}
}

func mustJSON(d Dataset) []byte {
	b, err := d.AppendJSON(nil)
	if err != nil {
		panic(err)
	}
	return b
}
