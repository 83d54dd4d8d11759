package main

// Checks that the deployment files under deploy/ agree with the binary:
// every flag they pass and every GATEWAY_* variable they set must exist in
// "serve" (bindServe), the resulting configuration must validate, and the
// cross-references between the files (ports, probes, Secret, PVC,
// ConfigMap, volumes) must line up. Renaming or removing a serve flag makes
// these tests fail until deploy/ is updated. No Docker engine or cluster
// is needed: the files are only parsed.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// deployDir is deploy/ relative to this package (tests run in cmd/gateway).
var deployDir = filepath.Join("..", "..", "deploy")

// deployServeFlags returns the serve FlagSet exactly as serve builds it.
func deployServeFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := DefaultConfig()
	bindServe(fs, &cfg)
	return fs
}

// deployEnvFlags maps GATEWAY_* variable names to serve flag names.
func deployEnvFlags() map[string]string {
	m := map[string]string{}
	deployServeFlags().VisitAll(func(f *flag.Flag) { m[envName(f.Name)] = f.Name })
	return m
}

// deployCheckEnv asserts that name is the variable of a serve flag and
// that value is acceptable to that flag (a typo like "yes" for a bool would
// stop the gateway at start).
// Values containing compose interpolation are checked by name only.
func deployCheckEnv(t *testing.T, where, name, value string) {
	t.Helper()
	fname, ok := deployEnvFlags()[name]
	if !ok {
		t.Errorf("%s: %s is not the variable of any serve flag", where, name)
		return
	}
	if strings.Contains(value, "${") {
		return
	}
	if err := deployServeFlags().Set(fname, value); err != nil {
		t.Errorf("%s: %s=%q is not a valid value for --%s: %v", where, name, value, fname, err)
	}
}

// deployCheckArgs asserts that args (after the "serve" subcommand) only
// use serve flags.
func deployCheckArgs(t *testing.T, where string, args []string) {
	t.Helper()
	fs := deployServeFlags()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if fs.Lookup(name) == nil {
			t.Errorf("%s: flag %s is not a serve flag", where, a)
		}
	}
}

// deployServeConfig builds the Config that "gateway serve args..." would
// run with under exactly env (other GATEWAY_* variables cleared), failing
// the test if the flags do not parse or the result does not validate.
func deployServeConfig(t *testing.T, where string, env map[string]string, args []string) Config {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GATEWAY_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	deployCheckArgs(t, where, args)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := DefaultConfig()
	bindServe(fs, &cfg)
	if err := parseSettings(fs, args); err != nil {
		t.Fatalf("%s: serve %q: %v", where, args, err)
	}
	if fs.NArg() != 0 {
		t.Errorf("%s: serve ignores stray arguments %q", where, fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("%s: the configuration does not validate: %v", where, err)
	}
	return cfg
}

// deployListenPort is the port of a --listen address.
func deployListenPort(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: listen address %q: %v", where, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: listen port %q: %v", where, p, err)
	}
	return n
}

var deployEnvToken = regexp.MustCompile(`\bGATEWAY_[A-Z0-9_]*[A-Z0-9]\b`)

// TestDeployGatewayVarsInAllFiles scans the text of every file in deploy/
// (manifests, comments, README, env examples) for GATEWAY_* names: each
// must be a serve flag's variable, so documentation cannot drift either.
func TestDeployGatewayVarsInAllFiles(t *testing.T) {
	flags := deployEnvFlags()
	n := 0
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if base := d.Name(); base == ".env" || base == "gateway.env" {
			return nil // local, uncommitted secrets
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, name := range deployEnvToken.FindAllString(line, -1) {
				n++
				if _, ok := flags[name]; !ok {
					t.Errorf("%s:%d: %s is not the variable of any serve flag", path, i+1, name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no GATEWAY_* variables found under deploy/: wrong directory?")
	}
}

// ---- YAML --------------------------------------------------------------

type deployDoc = map[string]any

// deployYAML decodes every document of a YAML file.
func deployYAML(t *testing.T, path string) []deployDoc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []deployDoc
	dec := yaml.NewDecoder(f)
	for {
		var d deployDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if d != nil { // an empty document, e.g. after a trailing ---
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML documents", path)
	}
	return docs
}

// deployGet walks nested mappings and sequences: keys are map keys or,
// for sequences, decimal indexes.
func deployGet(v any, path ...string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func deployStr(v any, path ...string) string {
	s, _ := deployGet(v, path...).(string)
	return s
}

func deployList(v any, path ...string) []any {
	l, _ := deployGet(v, path...).([]any)
	return l
}

func deployMap(v any, path ...string) map[string]any {
	m, _ := deployGet(v, path...).(map[string]any)
	return m
}

// deployStrings converts a YAML sequence of scalars to strings.
func deployStrings(t *testing.T, where string, l []any) []string {
	t.Helper()
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("%s: %v is not a string", where, v)
		}
		out = append(out, s)
	}
	return out
}

// deployK8s loads deploy/k8s/*.yaml by kind; every object must have
// apiVersion, kind and metadata.name.
func deployK8s(t *testing.T) (byKind map[string][]deployDoc, files []string) {
	t.Helper()
	return deployK8sDir(t, filepath.Join(deployDir, "k8s"))
}

// deployK8sDir is deployK8s for the manifests of one folder.
func deployK8sDir(t *testing.T, dir string) (byKind map[string][]deployDoc, files []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s/*.yaml files", dir)
	}
	byKind = map[string][]deployDoc{}
	for _, f := range files {
		for i, d := range deployYAML(t, f) {
			kind := deployStr(d, "kind")
			if deployStr(d, "apiVersion") == "" || kind == "" {
				t.Errorf("%s: document %d lacks apiVersion or kind", f, i+1)
			}
			if kind != "Kustomization" && deployStr(d, "metadata", "name") == "" {
				t.Errorf("%s: document %d (%s) lacks metadata.name", f, i+1, kind)
			}
			d["_file"] = filepath.Base(f)
			byKind[kind] = append(byKind[kind], d)
		}
	}
	return byKind, files
}

// deployOne returns the single object of a kind.
func deployOne(t *testing.T, byKind map[string][]deployDoc, kind string) deployDoc {
	t.Helper()
	if n := len(byKind[kind]); n != 1 {
		t.Fatalf("deploy/k8s: want exactly 1 %s, found %d", kind, n)
	}
	return byKind[kind][0]
}

// TestDeployYAMLParses parses every YAML file under deploy/.
func TestDeployYAMLParses(t *testing.T) {
	var files []string
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"docker-compose.yml", "k8s/configmap.yaml", "k8s/secret.example.yaml", "k8s/pvc.yaml",
		"k8s/deployment.yaml", "k8s/service.yaml", "k8s/kustomization.yaml",
	} {
		if !slices.Contains(files, filepath.Join(deployDir, filepath.FromSlash(want))) {
			t.Errorf("deploy/%s is missing", want)
		}
	}
	for _, f := range files {
		deployYAML(t, f)
	}
	deployK8s(t)
}

// TestDeployKustomization checks that the kustomization lists every
// manifest that exists, except the example Secret (applying it would
// overwrite real credentials with placeholders).
func TestDeployKustomization(t *testing.T) {
	byKind, files := deployK8s(t)
	k := deployOne(t, byKind, "Kustomization")
	res := deployStrings(t, "kustomization resources", deployList(k, "resources"))
	for _, r := range res {
		if _, err := os.Stat(filepath.Join(deployDir, "k8s", r)); err != nil {
			t.Errorf("kustomization lists %s: %v", r, err)
		}
	}
	for _, f := range files {
		base := filepath.Base(f)
		switch {
		case base == "kustomization.yaml":
		case base == "secret.example.yaml":
			if slices.Contains(res, base) {
				t.Errorf("kustomization must not apply %s (placeholder credentials)", base)
			}
		case !slices.Contains(res, base):
			t.Errorf("kustomization does not list %s", base)
		}
	}
}

// TestDeployK8sDeployment checks the Deployment against serve and against
// the other manifests.
func TestDeployK8sDeployment(t *testing.T) {
	byKind, _ := deployK8s(t)
	dep := deployOne(t, byKind, "Deployment")
	cm := deployOne(t, byKind, "ConfigMap")
	sec := deployOne(t, byKind, "Secret")
	pvc := deployOne(t, byKind, "PersistentVolumeClaim")
	svc := deployOne(t, byKind, "Service")

	if r, ok := deployGet(dep, "spec", "replicas").(int); !ok || r != 1 {
		t.Errorf("Deployment replicas = %v, want 1 (Badger is single-writer)", deployGet(dep, "spec", "replicas"))
	}
	if s := deployStr(dep, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("Deployment strategy = %q, want Recreate (Badger is single-writer)", s)
	}
	pod := deployMap(dep, "spec", "template", "spec")
	containers := deployList(pod, "containers")
	if len(containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(containers))
	}
	c := containers[0]

	// args: serve + existing flags.
	args := deployStrings(t, "container args", deployList(c, "args"))
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("container args %q must start with serve", args)
	}

	// Environment: ConfigMap data, Secret refs, literal values.
	env := map[string]string{}
	cmName := deployStr(cm, "metadata", "name")
	foundCM := false
	for _, ef := range deployList(c, "envFrom") {
		if n := deployStr(ef, "configMapRef", "name"); n != "" {
			if n != cmName {
				t.Errorf("envFrom configMapRef %q, but the ConfigMap is %q", n, cmName)
			}
			foundCM = true
		}
		if deployGet(ef, "prefix") != nil {
			t.Errorf("envFrom prefix would rename the GATEWAY_* variables")
		}
	}
	if !foundCM {
		t.Errorf("container has no envFrom configMapRef to %q", cmName)
	}
	for k, v := range deployMap(cm, "data") {
		s, ok := v.(string)
		if !ok {
			t.Errorf("ConfigMap %s: value %v is not a string", k, v)
			continue
		}
		deployCheckEnv(t, "ConfigMap", k, s)
		env[k] = s
	}
	secName := deployStr(sec, "metadata", "name")
	secData := deployMap(sec, "stringData")
	if secData == nil {
		secData = deployMap(sec, "data")
	}
	usedSecret := false
	for _, e := range deployList(c, "env") {
		name := deployStr(e, "name")
		if ref := deployMap(e, "valueFrom", "secretKeyRef"); ref != nil {
			usedSecret = true
			if n := deployStr(ref, "name"); n != secName {
				t.Errorf("env %s: secretKeyRef name %q, but the example Secret is %q", name, n, secName)
			}
			key := deployStr(ref, "key")
			v, ok := secData[key].(string)
			if !ok {
				t.Errorf("env %s: key %q is not in Secret %s", name, key, secName)
			}
			if strings.HasPrefix(name, "GATEWAY_") {
				deployCheckEnv(t, "Deployment env", name, v)
				env[name] = v
			}
			continue
		}
		if strings.HasPrefix(name, "GATEWAY_") {
			deployCheckEnv(t, "Deployment env", name, deployStr(e, "value"))
			env[name] = deployStr(e, "value")
		}
	}
	if !usedSecret {
		t.Errorf("the container reads nothing from Secret %s", secName)
	}
	for _, k := range []string{"GATEWAY_S3_ACCESS_KEY", "GATEWAY_S3_SECRET_KEY"} {
		if _, ok := deployMap(cm, "data")[k]; ok {
			t.Errorf("%s belongs in the Secret, not the ConfigMap", k)
		}
	}

	cfg := deployServeConfig(t, "Deployment", env, args[1:])
	if cfg.Store != "s3" {
		t.Errorf("Deployment store = %q, want s3", cfg.Store)
	}

	// Port: --listen port == the named container port.
	listen := deployListenPort(t, "Deployment", cfg.Listen)
	portName := ""
	for _, p := range deployList(c, "ports") {
		if cp, _ := deployGet(p, "containerPort").(int); cp == listen {
			portName = deployStr(p, "name")
		}
	}
	if portName == "" {
		t.Fatalf("no named containerPort %d matches --listen %s", listen, cfg.Listen)
	}
	if !strings.HasPrefix(cfg.Listen, "0.0.0.0:") && !strings.HasPrefix(cfg.Listen, ":") {
		t.Errorf("--listen %s is not reachable from outside the pod", cfg.Listen)
	}

	// Probes.
	for probe, path := range map[string]string{
		"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz",
	} {
		p := deployMap(c, probe, "httpGet")
		if p == nil {
			t.Errorf("%s: no httpGet", probe)
			continue
		}
		if got := deployStr(p, "path"); got != path {
			t.Errorf("%s path = %q, want %s", probe, got, path)
		}
		switch port := p["port"].(type) {
		case string:
			if port != portName {
				t.Errorf("%s port %q, want %q (containerPort %d)", probe, port, portName, listen)
			}
		case int:
			if port != listen {
				t.Errorf("%s port %d, want %d", probe, port, listen)
			}
		default:
			t.Errorf("%s port %v is neither a name nor a number", probe, port)
		}
	}

	// Prometheus annotations.
	ann := deployMap(dep, "spec", "template", "metadata", "annotations")
	if deployStr(ann, "prometheus.io/scrape") != "true" || deployStr(ann, "prometheus.io/path") != "/metrics" ||
		deployStr(ann, "prometheus.io/port") != strconv.Itoa(listen) {
		t.Errorf("prometheus annotations %v do not point at /metrics on port %d", ann, listen)
	}

	// Data volume: --data is mounted from the PVC.
	pvcName := deployStr(pvc, "metadata", "name")
	volName := ""
	for _, v := range deployList(pod, "volumes") {
		if n := deployStr(v, "persistentVolumeClaim", "claimName"); n != "" {
			if n != pvcName {
				t.Errorf("volume %s claims %q, but the PVC is %q", deployStr(v, "name"), n, pvcName)
			}
			volName = deployStr(v, "name")
		}
	}
	if volName == "" {
		t.Fatalf("no volume uses PVC %q", pvcName)
	}
	mounted := false
	for _, m := range deployList(c, "volumeMounts") {
		if deployStr(m, "name") == volName && filepath.Clean(deployStr(m, "mountPath")) == filepath.Clean(cfg.Data) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("--data %s is not the mountPath of volume %s (PVC %s)", cfg.Data, volName, pvcName)
	}
	modes := deployStrings(t, "PVC accessModes", deployList(pvc, "spec", "accessModes"))
	if !slices.Equal(modes, []string{"ReadWriteOnce"}) {
		t.Errorf("PVC accessModes %q, want [ReadWriteOnce]", modes)
	}

	// Security context.
	if deployGet(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if deployGet(pod, "securityContext", "fsGroup") == nil {
		t.Error("pod securityContext.fsGroup is not set (the PVC would not be writable)")
	}
	if deployGet(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("container readOnlyRootFilesystem is not true")
	}
	if deployGet(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container allowPrivilegeEscalation is not false")
	}
	if drop := deployStrings(t, "capabilities.drop", deployList(c, "securityContext", "capabilities", "drop")); !slices.Contains(drop, "ALL") {
		t.Errorf("container capabilities.drop = %q, want ALL", drop)
	}
	if deployGet(c, "resources", "requests") == nil || deployGet(c, "resources", "limits") == nil {
		t.Error("container resources requests/limits are not set")
	}

	// Graceful shutdown fits in the termination grace period.
	if g, ok := deployGet(pod, "terminationGracePeriodSeconds").(int); !ok {
		t.Error("terminationGracePeriodSeconds is not set")
	} else if cfg.ShutdownGrace >= time.Duration(g)*time.Second {
		t.Errorf("shutdown grace %v is not below terminationGracePeriodSeconds %d", cfg.ShutdownGrace, g)
	}

	// Service: targets the container port and selects the pod.
	podLabels := deployMap(dep, "spec", "template", "metadata", "labels")
	for k, v := range deployMap(svc, "spec", "selector") {
		if podLabels[k] != v {
			t.Errorf("Service selector %s=%v does not match the pod labels %v", k, v, podLabels)
		}
	}
	sp := deployList(svc, "spec", "ports")
	if len(sp) == 0 {
		t.Fatal("Service has no ports")
	}
	switch tp := deployGet(sp, "0", "targetPort").(type) {
	case string:
		if tp != portName {
			t.Errorf("Service targetPort %q, want %q", tp, portName)
		}
	case int:
		if tp != listen {
			t.Errorf("Service targetPort %d, want %d", tp, listen)
		}
	default:
		t.Errorf("Service targetPort %v is neither a name nor a number", tp)
	}
}

// ---- Dockerfile ----------------------------------------------------------

// deployDockerfile returns the Dockerfile's instructions (keyword upper
// case -> arguments of each occurrence), joining continuation lines.
func deployDockerfile(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins := map[string][]string{}
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		kw, rest, _ := strings.Cut(cur.String(), " ")
		ins[strings.ToUpper(kw)] = append(ins[strings.ToUpper(kw)], strings.TrimSpace(rest))
		cur.Reset()
	}
	return ins
}

// deployExecForm parses a JSON-array (exec form) instruction.
func deployExecForm(t *testing.T, kw string, ins map[string][]string) []string {
	t.Helper()
	l := ins[kw]
	if len(l) == 0 {
		t.Fatalf("Dockerfile has no %s", kw)
	}
	var v []string
	if err := json.Unmarshal([]byte(l[len(l)-1]), &v); err != nil {
		t.Fatalf("Dockerfile %s %s is not a JSON array (exec form): %v", kw, l[len(l)-1], err)
	}
	return v
}

// deployImageCmd is the image's default command, after the entrypoint.
func deployImageCmd(t *testing.T) []string {
	t.Helper()
	ins := deployDockerfile(t)
	if ep := deployExecForm(t, "ENTRYPOINT", ins); len(ep) != 1 || ep[0] != "/gateway" {
		t.Errorf("ENTRYPOINT %q, want [/gateway]", ep)
	}
	cmd := deployExecForm(t, "CMD", ins)
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("CMD %q must start with serve", cmd)
	}
	return cmd
}

// TestDeployDockerfile checks the image's default command against serve,
// and EXPOSE, VOLUME and USER against it.
func TestDeployDockerfile(t *testing.T) {
	ins := deployDockerfile(t)
	cmd := deployImageCmd(t)
	cfg := deployServeConfig(t, "Dockerfile CMD", nil, cmd[1:])
	port := deployListenPort(t, "Dockerfile CMD", cfg.Listen)
	if !slices.Contains(ins["EXPOSE"], strconv.Itoa(port)) {
		t.Errorf("EXPOSE %q does not include the --listen port %d", ins["EXPOSE"], port)
	}
	if strings.HasPrefix(cfg.Listen, "127.") || strings.HasPrefix(cfg.Listen, "localhost:") {
		t.Errorf("--listen %s is unreachable from outside the container", cfg.Listen)
	}
	if !slices.Contains(ins["VOLUME"], cfg.Data) && !slices.Contains(ins["VOLUME"], `["`+cfg.Data+`"]`) {
		t.Errorf("VOLUME %q does not include --data %s", ins["VOLUME"], cfg.Data)
	}
	users := ins["USER"]
	if len(users) == 0 {
		if from := ins["FROM"]; len(from) == 0 || !strings.Contains(from[len(from)-1], ":nonroot") {
			t.Error("the final stage sets no USER and is not a :nonroot base")
		}
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "0" || u == "root" {
		t.Errorf("USER %s is root", users[len(users)-1])
	}
	built := false
	for _, r := range ins["RUN"] {
		if strings.Contains(r, "go build") && strings.Contains(r, "./cmd/gateway") {
			built = true
		}
	}
	if !built {
		t.Error("no RUN builds ./cmd/gateway")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "cmd", "gateway")); err != nil {
		t.Errorf("the build path ./cmd/gateway: %v", err)
	}
}

// ---- docker compose --------------------------------------------------------

// deployDotEnv reads deploy/.env.example: set holds active KEY=VALUE lines,
// documented also the commented-out "#KEY=VALUE" ones.
func deployDotEnv(t *testing.T, path string) (set, documented map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	set, documented = map[string]string{}, map[string]string{}
	key := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		commented := strings.HasPrefix(line, "#")
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "#"), "=")
		if !ok || !key.MatchString(k) {
			continue
		}
		v = strings.Trim(v, `"'`)
		documented[k] = v
		if !commented {
			set[k] = v
		}
	}
	return set, documented
}

var deployInterp = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// deployInterpolate expands ${VAR}, ${VAR:-default} and ${VAR:?message}
// as docker compose would with the variables of .env.example.
func deployInterpolate(t *testing.T, s string, dotenv, documented map[string]string) string {
	t.Helper()
	return deployInterp.ReplaceAllStringFunc(s, func(m string) string {
		g := deployInterp.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		if _, ok := documented[name]; !ok {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not mention", name)
		}
		v, ok := dotenv[name]
		switch {
		case strings.HasSuffix(op, "?"):
			if !ok || v == "" {
				t.Errorf("docker-compose.yml requires %s, which .env.example does not set", name)
			}
			return v
		case strings.HasSuffix(op, "-"):
			if !ok || (op == ":-" && v == "") {
				return arg
			}
		}
		return v
	})
}

// deployComposeEnv returns a service's environment, map or list form.
func deployComposeEnv(t *testing.T, svc any) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch e := deployGet(svc, "environment").(type) {
	case map[string]any:
		for k, v := range e {
			switch v := v.(type) {
			case nil:
				out[k] = ""
			case string:
				out[k] = v
			default:
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, kv := range deployStrings(t, "environment", e) {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	}
	return out
}

// TestDeployCompose checks docker-compose.yml: the gateway's GATEWAY_*
// variables are serve flags, the resulting configuration validates with
// the image's CMD, and the ports, volumes, build and MinIO wiring agree.
func TestDeployCompose(t *testing.T) {
	path := filepath.Join(deployDir, "docker-compose.yml")
	docs := deployYAML(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	services := deployMap(docs[0], "services")
	gw, minio := services["gateway"], services["minio"]
	if gw == nil || minio == nil {
		t.Fatalf("services gateway and minio are required, have %v", slices.Sorted(maps.Keys(services)))
	}
	dotenv, documented := deployDotEnv(t, filepath.Join(deployDir, ".env.example"))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	deployInterpolate(t, string(raw), dotenv, documented) // every ${VAR} is in .env.example
	for k, v := range documented {
		if strings.HasPrefix(k, "GATEWAY_") {
			deployCheckEnv(t, ".env.example", k, v)
		}
	}

	// MinIO: pinned release, healthcheck, root credentials.
	img := deployStr(minio, "image")
	if !strings.Contains(img, "minio/minio:RELEASE.") {
		t.Errorf("minio image %q is not pinned to a RELEASE tag", img)
	}
	if deployGet(minio, "healthcheck", "test") == nil {
		t.Error("minio has no healthcheck (the gateway waits for service_healthy)")
	}
	minioEnv := deployComposeEnv(t, minio)
	for _, k := range []string{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"} {
		if !strings.Contains(minioEnv[k], "${"+k) {
			t.Errorf("minio %s = %q does not come from the .env file", k, minioEnv[k])
		}
	}

	// Gateway: build, dependency, environment.
	ctx := deployStr(gw, "build", "context")
	df := deployStr(gw, "build", "dockerfile")
	if _, err := os.Stat(filepath.Join(deployDir, ctx, df)); ctx == "" || df == "" || err != nil {
		t.Errorf("gateway build context %q dockerfile %q: %v", ctx, df, err)
	}
	if _, err := os.Stat(filepath.Join(deployDir, ctx, "go.mod")); err != nil {
		t.Errorf("gateway build context %q is not the module root: %v", ctx, err)
	}
	if c := deployStr(gw, "depends_on", "minio", "condition"); c != "service_healthy" {
		t.Errorf("gateway depends_on minio condition %q, want service_healthy", c)
	}
	env := map[string]string{}
	for k, v := range deployComposeEnv(t, gw) {
		if !strings.HasPrefix(k, "GATEWAY_") {
			continue
		}
		env[k] = deployInterpolate(t, v, dotenv, documented)
		deployCheckEnv(t, "compose gateway environment", k, env[k])
	}
	for _, pair := range [][2]string{{"GATEWAY_S3_ACCESS_KEY", "MINIO_ROOT_USER"}, {"GATEWAY_S3_SECRET_KEY", "MINIO_ROOT_PASSWORD"}} {
		if env[pair[0]] != dotenv[pair[1]] {
			t.Errorf("gateway %s does not use %s", pair[0], pair[1])
		}
	}
	args := deployImageCmd(t)[1:]
	if c := deployGet(gw, "command"); c != nil {
		l, ok := c.([]any)
		if !ok {
			t.Fatalf("gateway command %v: use the list form", c)
		}
		cmd := deployStrings(t, "gateway command", l)
		if len(cmd) == 0 || cmd[0] != "serve" {
			t.Fatalf("gateway command %q must start with serve", cmd)
		}
		args = cmd[1:]
	}
	cfg := deployServeConfig(t, "compose gateway", env, args)
	if cfg.Store != "s3" {
		t.Errorf("compose gateway store = %q, want s3", cfg.Store)
	}
	if host, port, err := net.SplitHostPort(cfg.S3.Endpoint); err != nil || host != "minio" || port != "9000" {
		t.Errorf("compose gateway s3 endpoint %q, want minio:9000", cfg.S3.Endpoint)
	}
	if !cfg.S3.PathStyle {
		t.Error("compose gateway does not use path-style addressing (MinIO)")
	}

	// Ports and volumes agree with --listen and --data.
	listen := deployListenPort(t, "compose gateway", cfg.Listen)
	published := false
	for _, p := range deployStrings(t, "gateway ports", deployList(gw, "ports")) {
		p = deployInterpolate(t, p, dotenv, documented)
		parts := strings.Split(p, ":")
		cport, _, _ := strings.Cut(parts[len(parts)-1], "/")
		if cport == strconv.Itoa(listen) {
			published = true
		}
	}
	if !published {
		t.Errorf("gateway ports do not publish the --listen port %d", listen)
	}
	dataVol := false
	for _, v := range deployStrings(t, "gateway volumes", deployList(gw, "volumes")) {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && filepath.Clean(parts[1]) == filepath.Clean(cfg.Data) {
			dataVol = true
			if _, ok := deployMap(docs[0], "volumes")[parts[0]]; !ok && !strings.HasPrefix(parts[0], ".") && !strings.HasPrefix(parts[0], "/") {
				t.Errorf("gateway volume %s is not declared under top-level volumes", parts[0])
			}
		}
	}
	if !dataVol {
		t.Errorf("no gateway volume is mounted at --data %s", cfg.Data)
	}
}

// ---- systemd ---------------------------------------------------------------

// deployUnit reads a systemd unit: key -> values in order.
func deployUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
			continue
		}
		u[strings.TrimSpace(k)] = append(u[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return u
}

// TestDeploySystemd checks the unit's ExecStart and the env file example.
func TestDeploySystemd(t *testing.T) {
	unitPath := filepath.Join(deployDir, "systemd", "gateway.service")
	u := deployUnit(t, unitPath)
	if len(u["ExecStart"]) != 1 {
		t.Fatalf("%s: %d ExecStart lines, want 1", unitPath, len(u["ExecStart"]))
	}
	exec := strings.Fields(u["ExecStart"][0])
	if len(exec) < 2 || filepath.Base(exec[0]) != "gateway" || exec[1] != "serve" {
		t.Fatalf("ExecStart %q must run gateway serve", exec)
	}
	for _, a := range exec {
		if strings.ContainsAny(a, `"'$%\`) {
			t.Errorf("ExecStart argument %q relies on systemd quoting or expansion; keep it literal", a)
		}
	}

	envPath := filepath.Join(deployDir, "systemd", "gateway.env.example")
	set, documented := deployDotEnv(t, envPath)
	for k, v := range documented {
		if !strings.HasPrefix(k, "GATEWAY_") {
			t.Errorf("%s: %s is not a GATEWAY_* variable", envPath, k)
			continue
		}
		deployCheckEnv(t, "gateway.env.example", k, v)
	}
	for _, k := range []string{"GATEWAY_LISTEN", "GATEWAY_DATA", "GATEWAY_LOG_JSON"} {
		if _, ok := set[k]; ok {
			t.Errorf("%s sets %s, which the ExecStart flag overrides", envPath, k)
		}
	}
	cfg := deployServeConfig(t, "systemd ExecStart", set, exec[2:])

	var envFile []string
	for _, f := range u["EnvironmentFile"] {
		envFile = append(envFile, strings.TrimPrefix(f, "-"))
	}
	if !slices.Contains(envFile, "/etc/gateway/gateway.env") {
		t.Errorf("EnvironmentFile %q does not read /etc/gateway/gateway.env", u["EnvironmentFile"])
	}
	if len(u["StateDirectory"]) == 0 {
		t.Fatal("no StateDirectory")
	}
	state := filepath.Join("/var/lib", strings.Fields(u["StateDirectory"][0])[0])
	if filepath.Clean(cfg.Data) != state {
		t.Errorf("--data %s is not the StateDirectory %s", cfg.Data, state)
	}
	var rw []string
	for _, v := range u["ReadWritePaths"] {
		rw = append(rw, strings.Fields(v)...)
	}
	if !slices.Contains(rw, state) {
		t.Errorf("ReadWritePaths %q does not include %s", rw, state)
	}
	if !strings.HasPrefix(cfg.Listen, "127.0.0.1:") {
		t.Errorf("--listen %s: the unit is meant to listen on loopback behind a proxy", cfg.Listen)
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "Restart": "on-failure", "LimitNOFILE": "65536",
	} {
		if got := u[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(u["User"]) != 1 || u["User"][0] == "root" || u["User"][0] == "0" {
		t.Errorf("User = %q, want a non-root user", u["User"])
	}
	if ts := u["TimeoutStopSec"]; len(ts) != 1 {
		t.Error("TimeoutStopSec is not set")
	} else if d, err := time.ParseDuration(strings.TrimSuffix(ts[0], "s") + "s"); err != nil {
		t.Errorf("TimeoutStopSec %q: %v", ts[0], err)
	} else if cfg.ShutdownGrace >= d {
		t.Errorf("shutdown grace %v is not below TimeoutStopSec %v", cfg.ShutdownGrace, d)
	}
}
