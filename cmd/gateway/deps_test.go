package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionBinaryLinksNoDevTools lists what the gateway binary links
// and fails on a development tool, a test helper, the unmaintained YAML
// module or a second DICOM parser: the corpus generator and its module
// cache lookup, gwbench and testutil stay out, and suyashkumar/dicom is
// linked only for its data dictionary (pkg/tag, through dcm).
func TestProductionBinaryLinksNoDevTools(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command: cannot list the binary's packages")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/imgcloud/gateway/cmd/gateway").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(pkg, "github.com/imgcloud/gateway/internal/corpus"),
			strings.HasPrefix(pkg, "github.com/imgcloud/gateway/internal/testutil"),
			strings.HasPrefix(pkg, "github.com/imgcloud/gateway/cmd/gwbench"),
			pkg == "gopkg.in/yaml.v3",
			strings.HasPrefix(pkg, "github.com/suyashkumar/dicom") && pkg != "github.com/suyashkumar/dicom/pkg/tag":
			t.Errorf("the gateway binary links %s", pkg)
		}
	}
}
