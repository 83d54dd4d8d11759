package recognition

import (
	"context"

	"github.com/imgcloud/gateway/codec"
)

// CompressAtIngest is the archive's compression rule (archive.Compression):
// the lossless transfer syntax UID the institution of the party storing
// asks for (compress_at_ingest), "" when it asks for none or the party has
// no institution.
func (s *Service) CompressAtIngest(ctx context.Context) string {
	if in := s.storing(ctx); in != nil {
		ts, _ := codec.Lossless(in.CompressAtIngest)
		return ts
	}
	return ""
}

// CompressionAsked lists the institutions that ask for compression at
// ingest, with the transfer syntax UID each asks for (for the start log
// and /readyz, which say when the build has no encoder for it).
func (s *Service) CompressionAsked() map[string]string {
	out := map[string]string{}
	for id, in := range s.state().institutions {
		if ts, ok := codec.Lossless(in.CompressAtIngest); ok {
			out[id] = ts
		}
	}
	return out
}

// checkCompression refuses a compress_at_ingest that names no lossless
// syntax, so that a typo is found when the registry is read, not as
// files silently stored as received.
func checkCompression(in *Institution) error {
	if in.CompressAtIngest == "" || in.CompressAtIngest == "off" {
		return nil
	}
	if _, ok := codec.Lossless(in.CompressAtIngest); ok {
		return nil
	}
	return invalidf("institution %s: compress_at_ingest %q is not one of %s", in.ID, in.CompressAtIngest, codec.LosslessNames)
}
