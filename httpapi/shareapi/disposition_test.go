package shareapi

import (
	"net/url"
	"strings"
	"testing"
)

func TestZipName(t *testing.T) {
	for _, c := range []struct{ date, desc, ascii, utf8 string }{
		{"20261003", "CT头颅平扫", "20261003_study.zip", "20261003_CT头颅平扫.zip"},
		{"20261003", "Chest PA/LAT", "20261003_Chest_PA_LAT.zip", "20261003_Chest_PA_LAT.zip"},
		{"20261003", `"; filename=x.exe`, "20261003_filenamex.exe.zip", "20261003_filenamex.exe.zip"},
		{"", "", "study.zip", "study.zip"},
	} {
		cd := (&mediaLayout{date: c.date, description: c.desc}).disposition()
		_, star, _ := strings.Cut(cd, "filename*=UTF-8''")
		name, err := url.PathUnescape(star)
		if !strings.HasPrefix(cd, `attachment; filename="`+c.ascii+`"; `) || err != nil || name != c.utf8 || strings.Count(cd, `"`) != 2 {
			t.Errorf("%q %q: %s (name %q)", c.date, c.desc, cd, name)
		}
	}
}
