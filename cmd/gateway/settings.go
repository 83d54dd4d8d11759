package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Every setting is a flag; the environment (GATEWAY_<FLAG>) and a YAML
// file (--config, GATEWAY_CONFIG) set the same names. Flags are
// registered with their built-in defaults only, so "-h" never prints a
// value that came from the environment or a file (secrets among them);
// parseSettings then applies file, environment and command line in that
// order of precedence, and any value that does not parse stops the
// command with the key and the reason.

func envName(flag string) string {
	return "GATEWAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func str(fs *flag.FlagSet, p *string, name, usage string) {
	fs.StringVar(p, name, *p, usage+" ["+envName(name)+"]")
}

// secretStr registers a setting whose value must never be shown: not in
// "-h", not in an error message.
func secretStr(fs *flag.FlagSet, p *string, name, usage string) {
	fs.Var((*secretValue)(p), name, usage+" (secret: give it by environment or config file, not on the command line) ["+envName(name)+"]")
}

func boolean(fs *flag.FlagSet, p *bool, name, usage string) {
	fs.BoolVar(p, name, *p, usage+" ["+envName(name)+"]")
}

// int64v registers a count or size; sizes may carry a unit (64GiB, 512MB).
func int64v(fs *flag.FlagSet, p *int64, name, usage string) {
	fs.Var((*sizeValue)(p), name, usage+" ["+envName(name)+"]")
}

func duration(fs *flag.FlagSet, p *time.Duration, name, usage string) {
	fs.DurationVar(p, name, *p, usage+" ["+envName(name)+"]")
}

func float(fs *flag.FlagSet, p *float64, name, usage string) {
	fs.Float64Var(p, name, *p, usage+" ["+envName(name)+"]")
}

func intv(fs *flag.FlagSet, p *int, name, usage string) {
	fs.IntVar(p, name, *p, usage+" ["+envName(name)+"]")
}

// configFlag registers --config, the YAML file of a command's settings.
func configFlag(fs *flag.FlagSet) {
	fs.String("config", "", "YAML file of settings, keys named as these flags (flags and the environment take precedence) [GATEWAY_CONFIG]")
}

// parseSettings sets fs's flags from, in rising precedence, the config
// file (when fs has --config), the environment and args.
func parseSettings(fs *flag.FlagSet, args []string) error {
	if fs.Lookup("config") != nil {
		path, ok := os.LookupEnv("GATEWAY_CONFIG")
		if p, found := configArg(args); found {
			path, ok = p, true
		}
		if ok && path != "" {
			if err := applyConfigFile(fs, path); err != nil {
				return err
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if f.Name == "config" || !strings.Contains(f.Usage, "["+name+"]") {
			return // only settings whose help names their variable
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", name, reason(f, v, err)))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %v", errUsage, err) // fs printed the usage
	} else if err != nil {
		return err
	}
	return nil
}

// configArg finds --config in args before they are parsed, since the file
// must be applied first.
func configArg(args []string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// applyConfigFile sets flags from a YAML mapping. Keys are flag names;
// nested mappings join their keys with "-" (s3: {endpoint: x} is
// s3-endpoint); lists become comma-separated values. An unknown key or a
// value that does not parse names the file, line and key.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file
	}
	var errs []error
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("config %s:%d: expected a mapping of settings", path, n.Line))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			if v.Kind == yaml.MappingNode {
				walk(key+"-", v)
				continue
			}
			f := fs.Lookup(key)
			if f == nil || key == "config" {
				errs = append(errs, fmt.Errorf("config %s:%d: unknown setting %q (see -h for the names)", path, k.Line, key))
				continue
			}
			val, err := scalar(v)
			if err == nil {
				err = fs.Set(key, val)
				if err != nil {
					err = errors.New(reason(f, val, err))
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config %s:%d: %s: %v", path, v.Line, key, err))
			}
		}
	}
	walk("", doc.Content[0])
	return errors.Join(errs...)
}

// scalar is a YAML value as a flag's text: a scalar, or a list of them
// joined with commas.
func scalar(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", errors.New("a list may hold only plain values")
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	}
	return "", errors.New("expected a value")
}

// reason explains why v is no value for f, without repeating a secret.
func reason(f *flag.Flag, v string, err error) string {
	if _, ok := f.Value.(*secretValue); ok {
		return "the value given is not valid"
	}
	switch f.Value.(type) {
	case *sizeValue:
		return fmt.Sprintf("%q is not a whole number of bytes (such as 1048576, 512MiB or 64GiB)", v)
	}
	// flag's own errors read: parse error / invalid syntax; say what is expected.
	kind := "a valid value"
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			kind = "true or false"
		case time.Duration:
			kind = "a duration such as 30s, 5m or 720h"
		case int, int64:
			kind = "a whole number"
		case float64:
			kind = "a number"
		}
	}
	return fmt.Sprintf("%q is not %s", v, kind)
}

// secretValue is a string flag that never shows its value.
type secretValue string

func (s *secretValue) String() string     { return "" }
func (s *secretValue) Set(v string) error { *s = secretValue(v); return nil }

// sizeValue is an int64 flag that takes byte units.
type sizeValue int64

func (s *sizeValue) String() string {
	if s == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*s), 10)
}

func (s *sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

func (s *sizeValue) Get() any { return int64(*s) }

// sizeUnits are the units parseSize takes: binary and decimal.
var sizeUnits = map[string]float64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
	"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
}

// parseSize reads "1048576", "512MiB", "1.5GB" or "64G".
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.ToUpper(strings.TrimSpace(s[i:]))
	mul, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: unknown unit", v)
	}
	if unit == "" || unit == "B" {
		return strconv.ParseInt(num, 10, 64)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mul > math.MaxInt64 {
		return 0, fmt.Errorf("size %q: not a size", v)
	}
	return int64(f * mul), nil
}
