package main

// Checks of the several-replica deployment files (issue 21):
// deploy/compose-replicas.yml, deploy/haproxy.cfg and deploy/k8s/replicas,
// in the style of deploy_test.go: parsed, checked against serve's flags
// and against each other. HAProxy's own parser checks haproxy.cfg
// (scripts/haproxy.sh installs Debian's haproxy); `docker compose config`
// and `kubectl kustomize` run too where this machine has them.

import (
	"bufio"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// haproxyBinary returns Debian's haproxy, skipping the test loudly when it
// is missing (failing it with CI=true).
func haproxyBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("haproxy")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("haproxy not found and CI=true: run scripts/haproxy.sh first: %v", err)
	}
	t.Skipf("\n" +
		"**************************************************************************\n" +
		"*** HAProxy tests SKIPPED: run scripts/haproxy.sh (or scripts/test.sh)\n" +
		"**************************************************************************")
	return ""
}

// haproxyConfig is what the tests read of an HAProxy configuration.
type haproxyConfig struct {
	// binds are the frontends' bind addresses, by frontend.
	binds map[string][]string
	// servers are the backends' server lines: backend -> name -> address.
	servers map[string]map[string]string
	// modes are the sections' modes (tcp or http; defaults' otherwise).
	modes map[string]string
	// backendOf is each frontend's default_backend.
	backendOf map[string]string
	// lines are all directives, by section ("backend gateways").
	lines map[string][]string
}

func readHAProxy(t *testing.T, path string) haproxyConfig {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := haproxyConfig{binds: map[string][]string{}, servers: map[string]map[string]string{},
		modes: map[string]string{}, backendOf: map[string]string{}, lines: map[string][]string{}}
	var kind, name string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if !strings.HasPrefix(sc.Text(), " ") && !strings.HasPrefix(sc.Text(), "\t") {
			kind, name = fields[0], ""
			if len(fields) > 1 {
				name = fields[1]
			}
			continue
		}
		sec := strings.TrimSpace(kind + " " + name)
		c.lines[sec] = append(c.lines[sec], line)
		switch {
		case fields[0] == "bind" && kind == "frontend":
			c.binds[name] = append(c.binds[name], fields[1])
		case fields[0] == "server" && kind == "backend" && len(fields) >= 3:
			if c.servers[name] == nil {
				c.servers[name] = map[string]string{}
			}
			c.servers[name][fields[1]] = fields[2]
		case fields[0] == "mode":
			c.modes[sec] = fields[1]
		case fields[0] == "default_backend":
			c.backendOf[name] = fields[1]
		}
	}
	return c
}

// mode is a section's mode, the defaults' when it sets none.
func (c haproxyConfig) mode(sec string) string {
	if m := c.modes[sec]; m != "" {
		return m
	}
	return c.modes["defaults"]
}

// TestDeployHAProxy: haproxy -c accepts deploy/haproxy.cfg, warning only
// that the compose service names do not resolve outside Docker; the HTTP
// backend checks GET /readyz and fails over passively, the DICOM port is
// passed through as TCP.
func TestDeployHAProxy(t *testing.T) {
	path := filepath.Join(deployDir, "haproxy.cfg")
	c := readHAProxy(t, path)
	bin := haproxyBinary(t)
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c -f %s: %v\n%s", path, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "[WARNING]") && !strings.Contains(l, "could not resolve address 'gateway-") {
			t.Errorf("haproxy -c warns: %s", l)
		}
		if strings.Contains(l, "[ALERT]") {
			t.Errorf("haproxy -c: %s", l)
		}
	}

	http := c.backendOf["dicomweb"]
	if http == "" || c.mode("backend "+http) != "http" {
		t.Fatalf("frontend dicomweb has no HTTP default_backend (%q)", http)
	}
	bl := strings.Join(c.lines["backend "+http], "\n")
	for _, want := range []string{"option httpchk", "uri /readyz", "http-check expect status 200", "observe layer4", "on-error mark-down"} {
		if !strings.Contains(bl, want) {
			t.Errorf("backend %s lacks %q (health check on /readyz, passive failover)", http, want)
		}
	}
	dl := strings.Join(c.lines["defaults"], "\n")
	for _, want := range []string{"option redispatch", "retry-on conn-failure", "timeout client 10m", "timeout server 10m"} {
		if !strings.Contains(dl, want) {
			t.Errorf("defaults lack %q (retry on another replica, STOW-sized timeouts)", want)
		}
	}
	if strings.Contains(bl+dl, "http-buffer-request") {
		t.Error("option http-buffer-request would hold whole STOW bodies in HAProxy")
	}
	dicom := c.backendOf["dicom"]
	if dicom == "" || c.mode("frontend dicom") != "tcp" || c.mode("backend "+dicom) != "tcp" {
		t.Errorf("the DICOM frontend/backend (%q) is not TCP pass-through", dicom)
	}
	if len(c.servers[http]) < 2 || len(c.servers[dicom]) != len(c.servers[http]) {
		t.Errorf("servers: http %v, dicom %v: want the same replicas in both, at least 2", c.servers[http], c.servers[dicom])
	}
	// A replica's DICOM server follows its HTTP server's health.
	for _, l := range c.lines["backend "+dicom] {
		if f := strings.Fields(l); f[0] == "server" && !strings.Contains(l, " track "+http+"/"+f[1]) {
			t.Errorf("backend %s: %q does not track %s/%s", dicom, l, http, f[1])
		}
	}
}

// TestDeployComposeReplicas checks compose-replicas.yml: three gateway
// replicas whose serve configuration validates with the index on
// PostgreSQL (URL without password, password from .env), the store in
// MinIO with versioning turned on first, the shared key volume, and
// HAProxy naming exactly those replicas on their --listen and
// --dicom-listen ports.
func TestDeployComposeReplicas(t *testing.T) {
	path := filepath.Join(deployDir, "compose-replicas.yml")
	docs := deployYAML(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	services := deployMap(docs[0], "services")
	dotenv, documented := deployDotEnv(t, filepath.Join(deployDir, ".env.example"))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	deployInterpolate(t, string(raw), dotenv, documented) // every ${VAR} is in .env.example
	deployComposeConfig(t, path)

	pg, minio, init, lb := services["postgres"], services["minio"], services["minio-init"], services["lb"]
	if pg == nil || minio == nil || init == nil || lb == nil {
		t.Fatalf("services postgres, minio, minio-init and lb are required, have %v", slices.Sorted(maps.Keys(services)))
	}
	if img := deployStr(pg, "image"); !strings.HasPrefix(img, "postgres:15") {
		t.Errorf("postgres image %q, want PostgreSQL 15 (what the tests run)", img)
	}
	if deployGet(pg, "healthcheck", "test") == nil {
		t.Error("postgres has no healthcheck (the replicas wait for service_healthy)")
	}
	pgEnvs := deployComposeEnv(t, pg)
	if !strings.Contains(pgEnvs["POSTGRES_PASSWORD"], "${POSTGRES_PASSWORD") {
		t.Errorf("postgres POSTGRES_PASSWORD = %q does not come from the .env file", pgEnvs["POSTGRES_PASSWORD"])
	}
	script := strings.Join(deployStrings(t, "minio-init command", deployList(init, "command")), "\n")
	if !strings.Contains(script, "mc version enable") || !strings.Contains(script, "mc mb") {
		t.Errorf("minio-init does not create the bucket and enable versioning:\n%s", script)
	}
	if c := deployStr(init, "depends_on", "minio", "condition"); c != "service_healthy" {
		t.Errorf("minio-init depends_on minio condition %q, want service_healthy", c)
	}

	hp := readHAProxy(t, filepath.Join(deployDir, "haproxy.cfg"))
	mounted := false
	for _, v := range deployStrings(t, "lb volumes", deployList(lb, "volumes")) {
		if strings.HasPrefix(v, "./haproxy.cfg:") && strings.Contains(v, "/usr/local/etc/haproxy/haproxy.cfg") {
			mounted = true
		}
	}
	if !mounted {
		t.Error("lb does not mount ./haproxy.cfg where the haproxy image reads it")
	}
	lbPorts := map[string]bool{}
	for _, p := range deployStrings(t, "lb ports", deployList(lb, "ports")) {
		parts := strings.Split(deployInterpolate(t, p, dotenv, documented), ":")
		lbPorts[parts[len(parts)-1]] = true
	}
	for fe, binds := range hp.binds {
		for _, b := range binds {
			if _, port, _ := net.SplitHostPort(b); !lbPorts[port] {
				t.Errorf("HAProxy frontend %s binds %s, which lb does not publish (%v)", fe, b, lbPorts)
			}
		}
	}

	var replicas []string
	for name := range services {
		if strings.HasPrefix(name, "gateway-") {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if len(replicas) != 3 {
		t.Fatalf("%d gateway replicas %v, want 3", len(replicas), replicas)
	}
	httpBackend, dicomBackend := hp.servers[hp.backendOf["dicomweb"]], hp.servers[hp.backendOf["dicom"]]
	if len(httpBackend) != len(replicas) || len(dicomBackend) != len(replicas) {
		t.Errorf("HAProxy servers %v / %v, want the %d replicas %v", httpBackend, dicomBackend, len(replicas), replicas)
	}
	dataVols := map[string]string{}
	var secretVols []string
	for _, name := range replicas {
		gw := services[name]
		if deployGet(gw, "ports") != nil {
			t.Errorf("%s publishes ports: the replicas are reached through lb only", name)
		}
		for dep, cond := range map[string]string{"postgres": "service_healthy", "minio-init": "service_completed_successfully"} {
			if c := deployStr(gw, "depends_on", dep, "condition"); c != cond {
				t.Errorf("%s depends_on %s condition %q, want %s", name, dep, c, cond)
			}
		}
		env := map[string]string{}
		for k, v := range deployComposeEnv(t, gw) {
			v = deployInterpolate(t, v, dotenv, documented)
			if strings.HasPrefix(k, "GATEWAY_") {
				deployCheckEnv(t, name+" environment", k, v)
				env[k] = v
			}
			if k == "PGPASSWORD" && v != dotenv["POSTGRES_PASSWORD"] {
				t.Errorf("%s PGPASSWORD is not POSTGRES_PASSWORD", name)
			}
		}
		if _, ok := deployComposeEnv(t, gw)["PGPASSWORD"]; !ok {
			t.Errorf("%s has no PGPASSWORD: the index URL names no password", name)
		}
		cmd := deployStrings(t, name+" command", deployList(gw, "command"))
		if len(cmd) == 0 || cmd[0] != "serve" {
			t.Fatalf("%s command %q must start with serve", name, cmd)
		}
		cfg := deployServeConfig(t, name, env, cmd[1:])
		deployCheckPostgresIndex(t, name, cfg.Index)
		if u, _ := url.Parse(cfg.Index.Backend); u == nil || u.Hostname() != "postgres" {
			t.Errorf("%s index host is not the postgres service: %s", name, cfg.Index.Redacted())
		}
		if cfg.Store != "s3" || cfg.S3.Endpoint != "minio:9000" {
			t.Errorf("%s store %q at %q, want s3 at minio:9000", name, cfg.Store, cfg.S3.Endpoint)
		}
		if env["GATEWAY_PERSON_KEY_SECRET"] == "" {
			t.Errorf("%s has no GATEWAY_PERSON_KEY_SECRET: each replica would create its own", name)
		}
		listen := deployListenPort(t, name, cfg.Listen)
		dicom := deployListenPort(t, name+" dicom", cfg.DICOM.Listen)
		if a := httpBackend[name]; a != name+":"+strconv.Itoa(listen) {
			t.Errorf("HAProxy server %s is %q, want %s:%d (--listen)", name, a, name, listen)
		}
		if a := dicomBackend[name]; a != name+":"+strconv.Itoa(dicom) {
			t.Errorf("HAProxy DICOM server %s is %q, want %s:%d (--dicom-listen)", name, a, name, dicom)
		}
		for _, v := range deployStrings(t, name+" volumes", deployList(gw, "volumes")) {
			src, dst, _ := strings.Cut(v, ":")
			switch filepath.Clean(dst) {
			case filepath.Clean(cfg.Data):
				if other, ok := dataVols[src]; ok {
					t.Errorf("%s and %s share the data volume %s", name, other, src)
				}
				dataVols[src] = name
			case filepath.Join(cfg.Data, "secrets"):
				secretVols = append(secretVols, src)
			}
			if _, ok := deployMap(docs[0], "volumes")[src]; !ok {
				t.Errorf("%s volume %s is not declared under top-level volumes", name, src)
			}
		}
	}
	if len(dataVols) != len(replicas) {
		t.Errorf("data volumes %v: want one per replica", dataVols)
	}
	if len(secretVols) != len(replicas) || len(slices.Compact(slices.Sorted(slices.Values(secretVols)))) != 1 {
		t.Errorf("secrets volumes %v: want one volume shared by every replica at {data}/secrets", secretVols)
	}
}

// deployCheckPostgresIndex: the index is a postgres URL with no password.
func deployCheckPostgresIndex(t *testing.T, where string, ix IndexConfig) {
	t.Helper()
	if !ix.Postgres() {
		t.Errorf("%s index %q is not on PostgreSQL", where, ix.Redacted())
		return
	}
	u, err := url.Parse(ix.Backend)
	if err != nil {
		t.Errorf("%s index URL: %v", where, err)
		return
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		t.Errorf("%s index URL carries a password: give it as PGPASSWORD", where)
	}
}

// deployComposeConfig runs `docker compose config` on path with
// .env.example as its env file where the docker CLI has the compose
// plugin (it needs no engine); elsewhere the structural checks stand alone.
func deployComposeConfig(t *testing.T, path string) {
	t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "compose", "version").Run() != nil {
		t.Log("docker compose is not installed here: compose-replicas.yml is checked structurally only")
		return
	}
	out, err := exec.Command(docker, "compose", "--env-file", filepath.Join(deployDir, ".env.example"), "-f", path, "config", "-q").CombinedOutput()
	if err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

// TestDeployK8sReplicas checks deploy/k8s/replicas: a Deployment of
// several replicas with the index on PostgreSQL from a Secret, no PVC,
// rolling updates that keep every replica serving, probes on /healthz and
// /readyz, resource requests, a PodDisruptionBudget and a Service that
// select its pods, and the shared keys mounted from a Secret.
func TestDeployK8sReplicas(t *testing.T) {
	dir := filepath.Join(deployDir, "k8s", "replicas")
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		if out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput(); err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", dir, err, out)
		}
	}
	byKind, files := deployK8sDir(t, dir)
	k := deployOne(t, byKind, "Kustomization")
	res := deployStrings(t, "kustomization resources", deployList(k, "resources"))
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && (base == "secret.example.yaml") == slices.Contains(res, base) {
			t.Errorf("kustomization and %s: list every manifest but the example Secrets", base)
		}
	}
	if len(byKind["PersistentVolumeClaim"]) != 0 {
		t.Error("a PersistentVolumeClaim: the index is on PostgreSQL, replicas keep nothing of their own")
	}
	dep := deployOne(t, byKind, "Deployment")
	cm := deployOne(t, byKind, "ConfigMap")
	svc := deployOne(t, byKind, "Service")
	pdb := deployOne(t, byKind, "PodDisruptionBudget")
	secrets := map[string]map[string]any{}
	for _, s := range byKind["Secret"] {
		secrets[deployStr(s, "metadata", "name")] = deployMap(s, "stringData")
	}

	if r, _ := deployGet(dep, "spec", "replicas").(int); r < 2 {
		t.Errorf("Deployment replicas = %v, want several", deployGet(dep, "spec", "replicas"))
	}
	if s := deployStr(dep, "spec", "strategy", "type"); s != "RollingUpdate" {
		t.Errorf("strategy %q, want RollingUpdate", s)
	}
	if mu := deployGet(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"); mu != 0 {
		t.Errorf("rollingUpdate maxUnavailable %v, want 0 (a new pod is ready before an old one leaves)", mu)
	}
	pod := deployMap(dep, "spec", "template", "spec")
	for _, v := range deployList(pod, "volumes") {
		if deployGet(v, "persistentVolumeClaim") != nil {
			t.Errorf("volume %s is a PVC", deployStr(v, "name"))
		}
	}
	containers := deployList(pod, "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	args := deployStrings(t, "container args", deployList(c, "args"))
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("container args %q must start with serve", args)
	}

	env := map[string]string{}
	for key, v := range deployMap(cm, "data") {
		s, _ := v.(string)
		deployCheckEnv(t, "ConfigMap", key, s)
		env[key] = s
	}
	for _, ef := range deployList(c, "envFrom") {
		if n := deployStr(ef, "configMapRef", "name"); n != deployStr(cm, "metadata", "name") {
			t.Errorf("envFrom configMapRef %q is not the ConfigMap", n)
		}
	}
	fromSecret := map[string]string{}
	for _, e := range deployList(c, "env") {
		name := deployStr(e, "name")
		if ref := deployMap(e, "valueFrom", "secretKeyRef"); ref != nil {
			sn, key := deployStr(ref, "name"), deployStr(ref, "key")
			v, ok := secrets[sn][key].(string)
			if !ok {
				t.Errorf("env %s: Secret %s has no key %q in secret.example.yaml", name, sn, key)
			}
			fromSecret[name] = sn + "/" + key
			if strings.HasPrefix(name, "GATEWAY_") {
				env[name] = v
			}
			continue
		}
		if strings.HasPrefix(name, "GATEWAY_") {
			env[name] = deployStr(e, "value")
		}
	}
	for _, name := range []string{"GATEWAY_INDEX", "PGPASSWORD", "GATEWAY_S3_SECRET_KEY", "GATEWAY_PERSON_KEY_SECRET"} {
		if fromSecret[name] == "" {
			t.Errorf("%s does not come from a Secret", name)
		}
		if _, ok := deployMap(cm, "data")[name]; ok {
			t.Errorf("%s belongs in a Secret, not the ConfigMap", name)
		}
	}
	cfg := deployServeConfig(t, "replicas Deployment", env, args[1:])
	deployCheckPostgresIndex(t, "replicas Deployment", cfg.Index)
	if cfg.Store != "s3" {
		t.Errorf("store %q, want s3 (no volume is shared between pods)", cfg.Store)
	}

	// The key files are in a volume of the keys Secret, with those items.
	mounts := map[string]string{}
	for _, m := range deployList(c, "volumeMounts") {
		mounts[deployStr(m, "name")] = deployStr(m, "mountPath")
	}
	for _, file := range []string{cfg.Access.Share.KeyFile, cfg.Access.AuditKeyFile} {
		found := false
		for _, v := range deployList(pod, "volumes") {
			sn := deployStr(v, "secret", "secretName")
			if sn == "" || filepath.Dir(file) != mounts[deployStr(v, "name")] {
				continue
			}
			for _, it := range deployList(v, "secret", "items") {
				if deployStr(it, "path") == filepath.Base(file) {
					_, found = secrets[sn][deployStr(it, "key")]
				}
			}
		}
		if !found {
			t.Errorf("key file %s is not mounted from a Secret of secret.example.yaml: each pod would create its own", file)
		}
	}

	ports := map[string]int{}
	for _, p := range deployList(c, "ports") {
		ports[deployStr(p, "name")], _ = deployGet(p, "containerPort").(int)
	}
	if ports["http"] != deployListenPort(t, "--listen", cfg.Listen) || ports["dicom"] != deployListenPort(t, "--dicom-listen", cfg.DICOM.Listen) {
		t.Errorf("container ports %v do not match --listen %s and --dicom-listen %s", ports, cfg.Listen, cfg.DICOM.Listen)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if got := deployStr(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %s (liveness never /readyz: PostgreSQL away would restart every pod)", probe, got, path)
		}
		if p := deployStr(c, probe, "httpGet", "port"); p != "http" {
			t.Errorf("%s port %q, want http", probe, p)
		}
	}
	for _, r := range []string{"cpu", "memory"} {
		if deployGet(c, "resources", "requests", r) == nil {
			t.Errorf("no resources.requests.%s", r)
		}
	}

	podLabels := deployMap(dep, "spec", "template", "metadata", "labels")
	for what, sel := range map[string]map[string]any{
		"Service": deployMap(svc, "spec", "selector"), "PodDisruptionBudget": deployMap(pdb, "spec", "selector", "matchLabels"),
	} {
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", what)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s selector %s=%v does not match the pod labels %v", what, k, v, podLabels)
			}
		}
	}
	if deployGet(pdb, "spec", "maxUnavailable") == nil && deployGet(pdb, "spec", "minAvailable") == nil {
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	targets := map[string]bool{}
	for _, p := range deployList(svc, "spec", "ports") {
		targets[deployStr(p, "targetPort")] = true
	}
	if !targets["http"] || !targets["dicom"] {
		t.Errorf("Service targets %v, want http and dicom", targets)
	}
}
