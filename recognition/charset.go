package recognition

import (
	"context"

	"github.com/imgcloud/gateway/auth"
	"github.com/imgcloud/gateway/dcm"
	"go.yaml.in/yaml/v3"
)

// DefaultCharset is the archive's character set rule (archive.Charsets):
// the default_charset of the institution of the party storing, "" when it
// has none or the party has no institution.
func (s *Service) DefaultCharset(ctx context.Context) string {
	if in := s.storing(ctx); in != nil {
		return in.DefaultCharset
	}
	return ""
}

// storing is the registered institution of the party in ctx, nil when it
// has none.
func (s *Service) storing(ctx context.Context) *Institution {
	p, ok := auth.FromContext(ctx)
	if !ok || p.Institution == "" {
		return nil
	}
	return s.state().institutions[p.Institution]
}

// checkCharset refuses a default_charset the gateway cannot decode, so
// that a typo is found at start and not as mojibake in the index.
func checkCharset(in *Institution) error {
	if in.DefaultCharset == "" || dcm.NormalizeCharset(in.DefaultCharset) != "" {
		return nil
	}
	return invalidf("institution %s: default_charset %q is not a character set the gateway knows (for example GB18030, GBK, ISO_IR 192 for UTF-8, ISO_IR 100)", in.ID, in.DefaultCharset)
}

// keyLine is the line of key in the mapping n, else n's own line.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}
