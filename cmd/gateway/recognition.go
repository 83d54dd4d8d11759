package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/labstack/echo/v4"

	"github.com/imgcloud/gateway/access"
	"github.com/imgcloud/gateway/httpapi/recognitionapi"
	"github.com/imgcloud/gateway/index"
	"github.com/imgcloud/gateway/recognition"
	"github.com/imgcloud/gateway/records"
	"github.com/imgcloud/gateway/storage"
)

// RecognitionConfig configures mutual recognition.
type RecognitionConfig struct {
	// Institutions and Catalogue are files loaded at start (YAML or JSON);
	// their entries replace stored ones with the same id. Errors stop the
	// start and name the line.
	Institutions string
	Catalogue    string
	// PersonKeySecret keys person keys (hex or text of at least 16 bytes).
	// Empty: read from, or created in, {data}/secrets/person-key.
	PersonKeySecret string
}

func bindRecognition(fs *flag.FlagSet, c *RecognitionConfig) {
	str(fs, &c.Institutions, "institutions", "institutions registry file to load at start (YAML/JSON)")
	str(fs, &c.Catalogue, "catalogue", "recognition catalogue file to load at start (YAML/JSON; default: the shipped imaging catalogue)")
	secretStr(fs, &c.PersonKeySecret, "person-key-secret", "secret keying person keys (default: {data}/secrets/person-key, created on first start)")
}

// personKeySecret returns the configured secret, or the one kept in the
// data folder (created on first start).
func personKeySecret(cfg Config) ([]byte, error) {
	if s := cfg.Recognition.PersonKeySecret; s != "" {
		if len(s) < 16 {
			return nil, errors.New("person-key-secret: at least 16 characters")
		}
		return []byte(s), nil
	}
	return recognition.LoadOrCreateSecret(filepath.Join(cfg.Data, "secrets", "person-key"))
}

// setupRecognition opens the recognition service over the index and the
// records, loads the configured files and seeds what is missing: the
// shipped catalogue (with the cross-province regions it names) when no
// catalogue was ever loaded, and with --demo the sample registry when no
// institution is registered. Its API hides what the visibility rule hides,
// over consents.
func setupRecognition(ctx context.Context, cfg Config, store storage.Store, db index.Store, consents access.Consents, log *slog.Logger) (*recognition.Service, error) {
	secret, err := personKeySecret(cfg)
	if err != nil {
		return nil, err
	}
	svc, err := recognition.New(ctx, db, records.New(store, db), recognition.Options{
		PersonKeySecret: secret, Logger: log.With("component", "recognition"), Consents: consents,
	})
	if err != nil {
		return nil, err
	}
	reg, cat, err := readRecognitionFiles(cfg.Recognition.Institutions, cfg.Recognition.Catalogue)
	if err != nil {
		return nil, err
	}
	example, err := recognition.ExampleRegistry()
	if err != nil {
		return nil, err
	}
	insts, _, items := svc.Counts()
	if reg == nil && insts == 0 && cfg.Demo {
		reg = example
	}
	if cat == nil && items == 0 {
		if cat, err = recognition.DefaultCatalogue(); err != nil {
			return nil, err
		}
		if reg == nil {
			// The shipped catalogue names JJJ, YRD and CY.
			reg = &recognition.RegistryFile{Regions: slices.DeleteFunc(slices.Clone(example.Regions),
				func(r *recognition.Region) bool { return r.Kind != recognition.KindCrossProvince })}
		}
	}
	if reg != nil || cat != nil {
		if err := svc.Import(ctx, reg, cat); err != nil {
			return nil, fmt.Errorf("load recognition files: %w", err)
		}
	}
	insts, regions, items := svc.Counts()
	log.Info("recognition ready", "institutions", insts, "regions", regions, "catalogue_items", items)
	if insts == 0 {
		log.Warn("no institution is registered: every study is NOT_ELIGIBLE until --institutions loads a registry")
	}
	return svc, nil
}

// readRecognitionFiles parses the files that are named ("" for none);
// errors name the file and line.
func readRecognitionFiles(instPath, catPath string) (*recognition.RegistryFile, *recognition.CatalogueFile, error) {
	var reg *recognition.RegistryFile
	var cat *recognition.CatalogueFile
	if instPath != "" {
		b, err := os.ReadFile(instPath)
		if err != nil {
			return nil, nil, fmt.Errorf("institutions: %w", err)
		}
		if reg, err = recognition.ParseRegistry(instPath, b); err != nil {
			return nil, nil, err
		}
	}
	if catPath != "" {
		b, err := os.ReadFile(catPath)
		if err != nil {
			return nil, nil, fmt.Errorf("catalogue: %w", err)
		}
		if cat, err = recognition.ParseCatalogue(catPath, b); err != nil {
			return nil, nil, err
		}
	}
	return reg, cat, nil
}

// recognitionAPI mounts the recognition JSON API; /api/v1/admin routes are
// admin-only through the access policy.
func recognitionAPI(svc *recognition.Service) func(g *echo.Group) {
	return func(g *echo.Group) { recognitionapi.Register(g, svc, recognitionapi.Options{}) }
}

// recognitionCommands are gateway recognition's subcommands.
var recognitionCommands = group{name: "recognition", summary: "load or export the institutions registry and the catalogue, print statistics (through a running gateway)", subs: []subcommand{
	{"load", "load an institutions registry and/or a catalogue file (YAML/JSON); entries replace those with the same id",
		"GATEWAY_TOKEN=$ADMIN gateway recognition load --institutions institutions.yaml"},
	{"export", "print the registry (institutions) or the catalogue as YAML", "GATEWAY_TOKEN=$ADMIN gateway recognition export institutions > institutions.yaml"},
	{"stats", "print recognition statistics by month, region, institution or item", "GATEWAY_TOKEN=$ADMIN gateway recognition stats --by institution --from 2026-01-01"},
}}

// recognitionCmd: gateway recognition load|export|stats, through a running
// gateway's API (Badger allows one process per index).
func recognitionCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, err := recognitionCommands.dispatch(args, stdout, stderr)
	if err != nil {
		return err
	}
	use := map[string]string{"load": " [--institutions F] [--catalogue F]", "export": " institutions|catalogue [flags]", "stats": " [--by month|region|institution|item] [--from D] [--to D] [--json]"}[name]
	fs, c := newAdminFlags("recognition "+name, stderr, recognitionCommands.help(name, use))
	var instPath, catPath, by, from, to string
	var asJSON bool
	switch name {
	case "load":
		fs.StringVar(&instPath, "institutions", "", "institutions registry file (YAML/JSON)")
		fs.StringVar(&catPath, "catalogue", "", "recognition catalogue file (YAML/JSON)")
	case "stats":
		fs.StringVar(&by, "by", "month", "month, region, institution or item")
		fs.StringVar(&from, "from", "", "first day (YYYY-MM-DD)")
		fs.StringVar(&to, "to", "", "last day (YYYY-MM-DD)")
		fs.BoolVar(&asJSON, "json", false, "print the JSON answer")
	}
	rest, what := args[1:], ""
	if name == "export" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		what, rest = rest[0], rest[1:] // export catalogue --url ...
	}
	if err := parseSettings(fs, rest); err != nil {
		return err
	}
	if what == "" {
		what = fs.Arg(0)
	}
	switch name {
	case "load":
		if instPath == "" && catPath == "" {
			return fmt.Errorf("%w: load: --institutions or --catalogue is required", errUsage)
		}
		reg, cat, err := readRecognitionFiles(instPath, catPath)
		if err != nil {
			return err
		}
		b, err := c.call(ctx, "POST", "/api/v1/admin/recognition/import", recognitionapi.ImportRequest{Registry: reg, Catalogue: cat})
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	case "export":
		if what != "institutions" && what != "catalogue" {
			return fmt.Errorf("%w: gateway recognition export institutions|catalogue > FILE", errUsage)
		}
		b, err := c.call(ctx, "GET", "/api/v1/admin/recognition/export", nil)
		if err != nil {
			return err
		}
		var ex recognitionapi.ImportRequest
		if err := json.Unmarshal(b, &ex); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if what == "institutions" {
			b, err = recognition.MarshalRegistry(ex.Registry)
		} else {
			b, err = recognition.MarshalCatalogue(ex.Catalogue)
		}
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	default: // stats
		q := url.Values{"by": {by}}
		for k, v := range map[string]string{"from": from, "to": to} {
			if v != "" {
				q.Set(k, v)
			}
		}
		b, err := c.call(ctx, "GET", "/api/v1/recognition/statistics?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if asJSON {
			_, err = stdout.Write(b)
			return err
		}
		var st recognition.Stats
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		return printStats(stdout, &st)
	}
}

// printStats writes statistics as a table with a total line.
func printStats(w io.Writer, st *recognition.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tRECOGNISED\tREFUSED\tCONDITION\tQUALITY\tINCOMPLETE\tOTHER\tSAVED (YUAN)\t\n", strings.ToUpper(st.By))
	row := func(key string, r recognition.StatsRow) {
		rr := r.RefusalsByReason
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t\n", key, r.Recognised, r.Refused,
			rr["condition_changed"], rr["image_quality"], rr["incomplete"], rr["other"], r.SavedYuan)
	}
	for _, r := range st.Rows {
		key := r.Key
		if r.Label != "" && r.Label != r.Key {
			key += " " + r.Label
		}
		row(key, r)
	}
	row("total", st.Total)
	return tw.Flush()
}

// registry answers whether the names tokens and consents use exist, from
// the recognition registry and catalogue and the index.
type registry struct {
	db index.Store
	rs *recognition.Service
}

func (r registry) KnownInstitution(id string) bool {
	_, err := r.rs.Institution(id)
	return err == nil
}

func (r registry) KnownRegion(id string) bool {
	insts, regions := r.rs.Institutions()
	for _, g := range regions {
		if g.ID == id {
			return true
		}
	}
	for _, in := range insts {
		if in.MemberOf(id) {
			return true
		}
	}
	return false
}

func (r registry) KnownItem(code string) bool {
	_, err := r.rs.Item(code)
	return err == nil
}

func (r registry) StudyOfPerson(ctx context.Context, study, person string) bool {
	st, err := r.db.Study(study)
	return err == nil && person != "" && r.rs.StudyPerson(ctx, st) == person
}
