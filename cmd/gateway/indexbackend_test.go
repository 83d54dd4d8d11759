package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestIndexSettingHidesPassword: the password of a postgres index URL,
// given by environment or flag, appears neither in -h nor in the refusal
// when the server cannot be reached; a backend that is neither badger nor
// postgres:// stops serve with the setting's name.
func TestIndexSettingHidesPassword(t *testing.T) {
	const pw = "pg-secret-7f3a9c"
	url := "postgres://gw:" + pw + "@127.0.0.1:1/imgcloud?connect_timeout=2"
	for _, c := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"help", url, []string{"serve", "-h"}, "--index"},
		{"unreachable by env", url, []string{"serve", "--listen", "127.0.0.1:0"}, "postgres://gw:xxxxx@127.0.0.1:1/imgcloud"},
		{"unreachable by flag", "", []string{"serve", "--listen", "127.0.0.1:0", "--index", url}, "postgres://gw:xxxxx@127.0.0.1:1/imgcloud"},
		{"unknown backend", "mysql://gw:" + pw + "@db/x", []string{"serve", "--listen", "127.0.0.1:0"}, "index: \"mysql://gw:xxxxx@db/x\" is neither badger nor a postgres:// URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			clearGatewayEnv(t)
			if c.env != "" {
				t.Setenv("GATEWAY_INDEX", c.env)
			}
			var out bytes.Buffer
			code := run(context.Background(), append(c.args, "--data", t.TempDir()), &out, &out)
			if strings.Contains(out.String(), pw) {
				t.Fatalf("the password is printed:\n%s", out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("exit %d, output:\n%s\nwant it to say %q", code, out.String(), c.want)
			}
			if c.name != "help" && code == 0 {
				t.Fatalf("serve started on an unusable index:\n%s", out.String())
			}
		})
	}
}
