package archive

import (
	"context"
	"net/url"
)

// Searcher answers QIDO-RS queries for the DICOMweb handler, which
// encodes what it returns once. *Service answers from this gateway alone;
// federation.Searcher adds the answers of peer gateways when scope asks
// for them.
type Searcher interface {
	Search(ctx context.Context, q Query, scope Scope) (*Result, error)
}

var _ Searcher = (*Service)(nil)

// Scope is where a study search looks. The zero Scope is this gateway
// alone.
type Scope struct {
	// Federated is true when the request named a federation scope (the
	// federation parameter or the X-Federation-Scope header).
	Federated bool
	// Peers is that scope as the client wrote it: "all", peer names
	// separated by commas, or "false", "none" or "0" for this gateway
	// alone. Package federation resolves it.
	Peers string
	// Params are the request's QIDO-RS parameters without the scope:
	// peers are asked with them unchanged.
	Params url.Values
	// Base is the service root as the client sees it; results held by
	// peers get a RetrieveURL through this gateway's proxy under it.
	Base string
}

// searchOnly refuses a scope that names other gateways: this archive
// answers for itself alone, and a search it cannot do must not pass for
// a complete one.
func searchOnly(scope Scope) error {
	if scope.Federated {
		return invalid("federation", "this gateway has no peers to search")
	}
	return nil
}
