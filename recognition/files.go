package recognition

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RegistryFile is the institutions registry file: regions, then
// institutions (YAML; JSON is YAML too).
type RegistryFile struct {
	Regions      []*Region      `json:"regions" yaml:"regions"`
	Institutions []*Institution `json:"institutions" yaml:"institutions"`
}

// CatalogueFile is the recognition catalogue file.
type CatalogueFile struct {
	Items []*Item `json:"items" yaml:"items"`
}

// ParseRegistry reads an institutions registry file; errors name the file
// and line. Regions named by institutions must be declared in the file.
func ParseRegistry(name string, b []byte) (*RegistryFile, error) {
	root, err := parseRoot(name, b, RegistryFile{})
	if err != nil {
		return nil, err
	}
	out := &RegistryFile{}
	seen := map[string]int{}
	err = eachItem(name, root, "regions", func(n *yaml.Node) error {
		r := &Region{Line: n.Line}
		if err := decodeStrict(n, r); err != nil {
			return err
		}
		if err := r.validate(); err != nil {
			return err
		}
		if l, dup := seen[r.ID]; dup {
			return invalidf("region %s is defined twice (also on line %d)", r.ID, l)
		}
		seen[r.ID] = n.Line
		out.Regions = append(out.Regions, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	st := newState(nil, out.Regions, nil)
	seen = map[string]int{}
	names := map[string]string{}
	err = eachItem(name, root, "institutions", func(n *yaml.Node) error {
		in := &Institution{Line: n.Line}
		if err := decodeStrict(n, in); err != nil {
			return err
		}
		if err := checkCharset(in); err != nil {
			return &lineError{keyLine(n, "default_charset"), err}
		}
		if err := checkCompression(in); err != nil {
			return &lineError{keyLine(n, "compress_at_ingest"), err}
		}
		if err := in.validate(); err != nil {
			return err
		}
		if err := st.checkInstitutionRegions(in); err != nil {
			return err
		}
		if l, dup := seen[in.ID]; dup {
			return invalidf("institution %s is defined twice (also on line %d)", in.ID, l)
		}
		seen[in.ID] = n.Line
		for _, nm := range slices.Concat([]string{in.Name, in.NameEN}, in.Aliases) {
			k := nameKey(nm)
			if other, ok := names[k]; ok && k != "" && other != in.ID {
				return invalidf("institution %s: name %q is also a name of %s", in.ID, nm, other)
			}
			names[k] = in.ID
		}
		out.Institutions = append(out.Institutions, in)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseCatalogue reads a recognition catalogue file; errors name the file
// and line. Regions are checked when the catalogue is loaded into a
// service, against its registry.
func ParseCatalogue(name string, b []byte) (*CatalogueFile, error) {
	root, err := parseRoot(name, b, CatalogueFile{})
	if err != nil {
		return nil, err
	}
	out := &CatalogueFile{}
	seen := map[string]int{}
	err = eachItem(name, root, "items", func(n *yaml.Node) error {
		it := &Item{Line: n.Line}
		if err := decodeStrict(n, it); err != nil {
			return err
		}
		if err := it.validate(); err != nil {
			return err
		}
		if l, dup := seen[it.Code]; dup {
			return invalidf("item %s is defined twice (also on line %d)", it.Code, l)
		}
		seen[it.Code] = n.Line
		out.Items = append(out.Items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out.Items) == 0 {
		return nil, fmt.Errorf("%s: %w", name, invalidf("the catalogue has no items"))
	}
	return out, nil
}

// parseRoot parses a YAML document whose top level is a mapping with the
// keys of the struct shape.
func parseRoot(name string, b []byte, shape any) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		var line int
		if _, serr := fmt.Sscanf(msg, "line %d:", &line); serr == nil {
			_, msg, _ = strings.Cut(msg, ": ")
			return nil, fmt.Errorf("%s:%d: %w", name, line, invalidf("%s", msg))
		}
		return nil, fmt.Errorf("%s: %w", name, invalidf("%s", msg))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %w", name, max(doc.Line, 1), invalidf("the file must be a mapping"))
	}
	root := doc.Content[0]
	if err := checkKeys(root, reflect.TypeOf(shape)); err != nil {
		return nil, fmt.Errorf("%s:%w", name, err)
	}
	return root, nil
}

// eachItem calls fn for each element of the sequence under key; errors
// get the file name and the element's line.
func eachItem(name string, root *yaml.Node, key string, fn func(*yaml.Node) error) error {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != key {
			continue
		}
		seq := root.Content[i+1]
		if seq.Kind == yaml.ScalarNode && seq.Tag == "!!null" {
			return nil
		}
		if seq.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s:%d: %w", name, seq.Line, invalidf("%s must be a list", key))
		}
		for _, n := range seq.Content {
			if err := fn(n); err != nil {
				var le *lineError
				if errors.As(err, &le) {
					return fmt.Errorf("%s:%w", name, err)
				}
				return fmt.Errorf("%s:%d: %w", name, n.Line, err)
			}
		}
	}
	return nil
}

// lineError is an error at a line of its own (an unknown key, a value of
// the wrong type), more precise than the element's first line.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("%d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// decodeStrict decodes a mapping node into v after checking its keys.
func decodeStrict(n *yaml.Node, v any) error {
	if n.Kind != yaml.MappingNode {
		return &lineError{n.Line, invalidf("expected a mapping of fields")}
	}
	if err := checkKeys(n, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			line := n.Line
			fmt.Sscanf(te.Errors[0], "line %d:", &line)
			return &lineError{line, invalidf("%s", te.Errors[0])}
		}
		return invalidf("%v", err)
	}
	return nil
}

// checkKeys verifies, recursively, that a mapping node only has keys that
// are yaml field names of the struct type t.
func checkKeys(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode {
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type
			names = append(names, tag)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return &lineError{k.Line, invalidf("unknown field %q (known: %s)", k.Value, strings.Join(names, ", "))}
		}
		if err := checkKeys(v, ft); err != nil {
			return err
		}
	}
	return nil
}

// MarshalRegistry writes a registry file.
func MarshalRegistry(f *RegistryFile) ([]byte, error) { return marshalYAML(f) }

// MarshalCatalogue writes a catalogue file.
func MarshalCatalogue(f *CatalogueFile) ([]byte, error) { return marshalYAML(f) }

func marshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return buf.Bytes(), nil
}
