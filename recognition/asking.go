package recognition

import (
	"context"

	"github.com/imgcloud/gateway/auth"
)

type askingKey struct{}

// WithAsking returns ctx carrying the id of the institution a request asks
// for, as the HTTP layer determined it.
func WithAsking(ctx context.Context, institution string) context.Context {
	return context.WithValue(ctx, askingKey{}, institution)
}

// AskingFrom returns the institution a request asks for: the
// authenticated principal's when there is one, else what WithAsking put in
// the context ("" when nobody said).
func AskingFrom(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok && p.Institution != "" {
		return p.Institution
	}
	s, _ := ctx.Value(askingKey{}).(string)
	return s
}
