package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/corpus"
)

func main() {
	dir, _ := corpus.SourceDir()
	for i := 1; i <= 6; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
		f, _ := os.Open(p)
		st, _ := f.Stat()
		h, err := dcm.ReadHeader(f, st.Size(), dcm.Limits{})
		if err != nil {
			fmt.Println(i, err)
			continue
		}
		d := h.Dataset
		fmt.Println(i, h.TransferSyntax, d.String("00080060"), "rows", d.String("00280010"), "cols", d.String("00280011"), "ba", d.String("00280100"), "bs", d.String("00280101"), "pr", d.String("00280103"), d.String("00280004"), "spp", d.String("00280002"), "nf", d.String("00280008"), "wc", d.Strings("00281050"), "ww", d.Strings("00281051"), "ri", d.String("00281052"), "rs", d.String("00281053"), "voi", d.String("00281056"), "frames", len(h.Frames.Frames), h.Frames.Frames[0])
	}
}
