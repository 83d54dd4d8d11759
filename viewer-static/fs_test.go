package viewerstatic

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// harness runs common.js in Node with the browser objects it touches
// stubbed: an address with #token=, sessionStorage, history and fetch. It
// prints what the script stored and the Authorization of a request made
// before and after the token dialog's way of signing in.
const harness = `
const vm = require("vm"), fs = require("fs");
const store = new Map(), calls = [];
const ctx = {
  location: { hash: "#token=gw_evil_attackerssecret12345&x=1", pathname: "/study.html", search: "?studyUID=1.2.3", reload() {} },
  history: { replaceState(...a) { calls.push("replaceState"); } },
  sessionStorage: { getItem: k => store.has(k) ? store.get(k) : null, setItem: (k, v) => store.set(k, String(v)), removeItem: k => store.delete(k) },
  document: { querySelector: () => null, getElementById: () => null, baseURI: "http://gw.example/study.html" },
  URL, decodeURIComponent,
  fetch: async (u, opt) => { calls.push("auth=" + (opt.headers.Authorization || "")); return { status: 200, ok: true }; },
};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8") + ";globalThis.GW = GW;", ctx);
(async () => {
  await ctx.GW.request(new URL("http://gw.example/dicomweb/studies"), "application/dicom+json");
  store.set("imgcloud.token", "gw_mine_typedinthedialog1234");
  await ctx.GW.request(new URL("http://gw.example/dicomweb/studies"), "application/dicom+json");
  console.log(JSON.stringify({ stored: [...store.keys()].length, calls }));
})();
`

// TestFragmentTokenIgnored: a link to the viewer with #token= (token
// fixation: the attacker's token signs the victim in as the attacker)
// neither stores the token nor sends it; a token entered in the dialog
// (sessionStorage) is still sent.
func TestFragmentTokenIgnored(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the viewer script cannot be run")
	}
	src, err := fs.ReadFile(FS(), "common.js")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "common.js")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "-e", harness, path).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	want := `{"stored":1,"calls":["auth=","auth=Bearer gw_mine_typedinthedialog1234"]}`
	if got != want {
		t.Errorf("viewer script with #token= in the address:\n got %s\nwant %s", got, want)
	}
}
