package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearGatewayEnv unsets every GATEWAY_* variable for the test.
func clearGatewayEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GATEWAY_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// TestHelpPrintsNoSecrets: secrets given by environment appear in no help
// text of any command.
func TestHelpPrintsNoSecrets(t *testing.T) {
	clearGatewayEnv(t)
	secrets := map[string]string{
		"GATEWAY_S3_SECRET_KEY":     "s3-secret-7f3a9c",
		"GATEWAY_ADMIN_TOKEN":       "gw_ops_adminsecret7f3a9c0000",
		"GATEWAY_PERSON_KEY_SECRET": "person-secret-7f3a9c",
		"GATEWAY_TOKEN":             "gw_cli_clientsecret7f3a9c000",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	for _, args := range [][]string{
		{"serve", "-h"}, {"reindex", "-h"}, {"fsck", "-h"}, {"token", "list", "-h"},
		{"share", "create", "-h"}, {"recognition", "stats", "-h"}, {"push", "-h"}, {"demo", "-h"},
	} {
		var out bytes.Buffer
		run(context.Background(), args, &out, &out)
		if out.Len() == 0 {
			t.Errorf("%v printed no help", args)
		}
		for k, v := range secrets {
			if strings.Contains(out.String(), v) {
				t.Errorf("%v prints the value of %s", args, k)
			}
		}
	}
}

// TestBadSettingStopsStart: a value that does not parse stops serve with
// the variable's name and the reason, never the default in its place.
func TestBadSettingStopsStart(t *testing.T) {
	for _, c := range []struct{ env, value, want string }{
		{"GATEWAY_MAX_REQUEST_BYTES", "lots", `GATEWAY_MAX_REQUEST_BYTES: "lots" is not a whole number of bytes`},
		{"GATEWAY_DEMO", "yes please", `GATEWAY_DEMO: "yes please" is not true or false`},
		{"GATEWAY_SHUTDOWN_GRACE", "20", `GATEWAY_SHUTDOWN_GRACE: "20" is not a duration`},
		{"GATEWAY_RATE_LIMIT", "fast", `GATEWAY_RATE_LIMIT: "fast" is not a number`},
	} {
		t.Run(c.env, func(t *testing.T) {
			clearGatewayEnv(t)
			t.Setenv(c.env, c.value)
			var out bytes.Buffer
			code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, &out, &out)
			if code == 0 || !strings.Contains(out.String(), c.want) {
				t.Fatalf("exit %d, output %q; want a refusal saying %q", code, out.String(), c.want)
			}
		})
	}
}

// TestSizesTakeUnits: byte settings take plain numbers and units.
func TestSizesTakeUnits(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "512MiB": 512 << 20, "64GiB": 64 << 30, "64G": 64 << 30, "1.5GB": 1_500_000_000, "10 KB": 10_000, "0": 0,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "12XB", "1e3", "-", "9999999999TiB"} {
		if n, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, n)
		}
	}
}

// TestConfigFile: a YAML file sets the flags' names (nested mappings
// join with "-", lists with ","); the environment overrides it and flags
// override both; unknown keys and bad values name the file and line.
func TestConfigFile(t *testing.T) {
	clearGatewayEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(`# gateway settings
listen: 127.0.0.1:9001
data: /srv/gateway
max-request-bytes: 64GiB
cors-origins: [https://a.example.cn, https://b.example.cn]
s3:
  region: cn-north-1
  secret-key: from-file
rate-limit: 50
`), 0o600)
	parse := func(args ...string) (Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := DefaultConfig()
		bindServe(fs, &cfg)
		return cfg, parseSettings(fs, args)
	}
	t.Setenv("GATEWAY_RATE_LIMIT", "75")
	cfg, err := parse("--config", path, "--listen", "127.0.0.1:9002")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9002" || cfg.Data != "/srv/gateway" || cfg.MaxRequestBytes != 64<<30 ||
		cfg.CORSOrigins != "https://a.example.cn,https://b.example.cn" || cfg.S3.Region != "cn-north-1" ||
		cfg.S3.SecretKey != "from-file" || cfg.Access.RatePerSec != 75 {
		t.Errorf("config file, env and flags gave %+v", cfg)
	}
	t.Setenv("GATEWAY_CONFIG", path)
	if cfg, err := parse(); err != nil || cfg.Data != "/srv/gateway" {
		t.Errorf("GATEWAY_CONFIG: %v, data %q", err, cfg.Data)
	}

	os.WriteFile(path, []byte("listen: 127.0.0.1:9001\nlisten-adress: x\nmin-free-bytes: plenty\n"), 0o600)
	_, err = parse("--config", path)
	for _, want := range []string{path + `:2: unknown setting "listen-adress"`, path + `:3: min-free-bytes: "plenty" is not a whole number of bytes`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad file: %v, want %q", err, want)
		}
	}
	if _, err := parse("--config", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing config file was accepted")
	}
}
