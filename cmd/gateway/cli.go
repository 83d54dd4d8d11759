package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The command-line conventions every subcommand follows:
//
//   - "-h" and "--help" print a usage line, a one-line summary, an example
//     and the command's own flags (only those), and exit 0;
//   - a command made of subcommands (token, audit, share, recognition)
//     lists them, each with its summary and example, for "-h", "help" or
//     no argument;
//   - a client of a running gateway takes the site root (--url,
//     GATEWAY_URL; a URL ending in /dicomweb is accepted too) and a token
//     (--token, GATEWAY_TOKEN, never printed), and finds /dicomweb itself.

// help is what "-h" prints for one command.
type help struct {
	usage   string   // e.g. "gateway fsck [flags]"
	summary string   // one line
	example string   // one or more command lines
	shown   []string // the flags printed, in fs order; nil: all of fs
}

// install makes fs print h for -h, --help and a flag error. Commands that
// also read serve's settings (reindex, fsck: the same config file works
// for them) list only the settings they use, in shown.
func (h help) install(fs *flag.FlagSet) {
	fs.Usage = func() { h.print(fs.Output(), fs) }
}

func (h help) print(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nExample:\n", h.usage, h.summary)
	for _, l := range strings.Split(strings.TrimSpace(h.example), "\n") {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(l))
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if h.shown == nil || slices.Contains(h.shown, f.Name) {
			flags = append(flags, f)
		}
	})
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFlags:\n")
	for _, f := range flags {
		kind, usage := flag.UnquoteUsage(f)
		switch f.Value.(type) {
		case *secretValue:
			kind = "string"
		case *sizeValue:
			kind = "size"
		}
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name
		}
		if kind != "" {
			line += " " + kind
		}
		if def := shownDefault(f); def != "" {
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	}
}

// shownDefault is a flag's default as help shows it ("" for none; a
// secret's never: flags are registered with built-in defaults only).
func shownDefault(f *flag.Flag) string {
	if _, ok := f.Value.(*secretValue); ok {
		return ""
	}
	switch f.DefValue {
	case "", "0", "false", "0s":
		return ""
	}
	return f.DefValue
}

// subcommand is one entry of a command made of subcommands.
type subcommand struct {
	name, summary, example string
}

// group is a command made of subcommands.
type group struct {
	name, summary string
	subs          []subcommand
}

// errUsage marks an error after which the usage was printed: run answers
// exit status 2.
var errUsage = errors.New("usage")

// dispatch handles what is not a subcommand: no argument, "-h", "--help"
// or "help" print the group's help (exit 0 for a request, 2 for none),
// and an unknown name is an error naming the ones there are. It returns
// the subcommand's name when there is one.
func (g group) dispatch(args []string, stdout, stderr io.Writer) (string, error) {
	if len(args) == 0 {
		g.print(stderr)
		return "", fmt.Errorf("%w: a subcommand is needed", errUsage)
	}
	switch args[0] {
	case "-h", "--help", "help", "-help":
		g.print(stdout)
		return "", flag.ErrHelp
	}
	for _, s := range g.subs {
		if s.name == args[0] {
			return s.name, nil
		}
	}
	names := make([]string, len(g.subs))
	for i, s := range g.subs {
		names[i] = s.name
	}
	return "", fmt.Errorf("%w: unknown %s command %q: one of %s (gateway %s -h)", errUsage, g.name, args[0], strings.Join(names, ", "), g.name)
}

func (g group) print(w io.Writer) {
	fmt.Fprintf(w, "Usage: gateway %s <command> [flags]\n\n%s\n\nCommands:\n", g.name, g.summary)
	for _, s := range g.subs {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nExamples:\n")
	for _, s := range g.subs {
		fmt.Fprintf(w, "  %s\n", s.example)
	}
	fmt.Fprintf(w, "\nRun \"gateway %s <command> -h\" for the flags of a command.\n", g.name)
}

// sub returns the named subcommand's entry.
func (g group) sub(name string) subcommand {
	for _, s := range g.subs {
		if s.name == name {
			return s
		}
	}
	return subcommand{name: name}
}

// help is the help of one of g's subcommands, with the usage given.
func (g group) help(name, usage string) help {
	s := g.sub(name)
	return help{usage: "gateway " + g.name + " " + name + usage, summary: s.summary, example: s.example}
}

// defaultSite is the site root clients use when none is given.
const defaultSite = "http://127.0.0.1:8080"

// site is what a client of a running gateway is given: the site root and
// a token.
type site struct {
	url   string
	token string
}

// bindSite registers --url and --token.
func bindSite(fs *flag.FlagSet) *site {
	s := &site{url: defaultSite}
	str(fs, &s.url, "url", "the gateway's site root, e.g. https://pacs.example.cn (a URL ending in /dicomweb works too)")
	secretStr(fs, &s.token, "token", "API token (the admin token, printed at first start, for token, audit, share and recognition)")
	return s
}

// root is the site root without a trailing slash or /dicomweb.
func (s *site) root() string {
	return strings.TrimSuffix(strings.TrimRight(s.url, "/"), "/dicomweb")
}

// dicomweb is the DICOMweb root under the site.
func (s *site) dicomweb() string { return s.root() + "/dicomweb" }
