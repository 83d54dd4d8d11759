package recognition

import (
	"embed"
	"fmt"
)

//go:embed defaults/catalogue.yaml defaults/institutions.yaml
var defaultFiles embed.FS

// DefaultCatalogue returns the shipped imaging catalogue
// (defaults/catalogue.yaml), used when no catalogue was ever loaded.
func DefaultCatalogue() (*CatalogueFile, error) {
	return parseEmbedded("defaults/catalogue.yaml", ParseCatalogue)
}

// ExampleRegistry returns the sample institutions registry
// (defaults/institutions.yaml): the hospitals of the demo corpus and the
// cross-province regions. It is loaded with --demo.
func ExampleRegistry() (*RegistryFile, error) {
	return parseEmbedded("defaults/institutions.yaml", ParseRegistry)
}

// DefaultFile returns the raw bytes of a shipped file ("catalogue.yaml" or
// "institutions.yaml").
func DefaultFile(name string) ([]byte, error) {
	b, err := defaultFiles.ReadFile("defaults/" + name)
	if err != nil {
		return nil, fmt.Errorf("default file %s: %w", name, err)
	}
	return b, nil
}

func parseEmbedded[T any](path string, parse func(string, []byte) (T, error)) (T, error) {
	b, err := defaultFiles.ReadFile(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("read %s: %w", path, err)
	}
	return parse(path, b)
}
