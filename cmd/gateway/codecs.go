package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/imgcloud/gateway/archive"
	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
	"github.com/imgcloud/gateway/dcm"
	"github.com/imgcloud/gateway/internal/metrics"
)

// pixelCodecs returns the codecs this build has and says at start which
// compressed syntaxes it cannot decode: a build without the cgocodecs tag
// (plain `go build`) lacks JPEG 2000, HTJ2K and JPEG-LS.
func pixelCodecs(log *slog.Logger) *codec.Set {
	s := codecs.New()
	if missing := codecs.Missing(s); len(missing) > 0 {
		log.Warn("this build cannot decode some compressed transfer syntaxes (build with -tags cgocodecs, as deploy/Dockerfile does)",
			"syntaxes", strings.Join(missing, ", "))
	}
	return s
}

// codecNotes are /readyz's lines about the codecs.
func codecNotes(s *codec.Set) []string {
	if missing := codecs.Missing(s); len(missing) > 0 {
		return []string{"cannot decode: " + strings.Join(missing, ", ")}
	}
	return nil
}

// compressionNotes say which institutions ask for compression at ingest
// in a syntax this build cannot encode (their files are stored as
// received): the start log's warning and /readyz's lines.
func compressionNotes(asked map[string]string, s *codec.Set) []string {
	var out []string
	for id, ts := range asked {
		if _, ok := s.Encoder(ts); !ok {
			out = append(out, fmt.Sprintf("cannot compress at ingest: institution %s asks for %s (%s), which this build cannot encode (build with -tags cgocodecs): its files are stored as received", id, ts, dcm.SyntaxName(ts)))
		}
	}
	slices.Sort(out)
	return out
}

// warnCompression logs compressionNotes at start.
func warnCompression(log *slog.Logger, asked map[string]string, s *codec.Set) {
	for _, n := range compressionNotes(asked, s) {
		log.Warn(n)
	}
}

// compressionStats are the archive's figures of compression at ingest
// for the metrics (which import nothing of the module).
func compressionStats(a *archive.Service) []metrics.CompressionStat {
	var out []metrics.CompressionStat
	for _, st := range a.CompressionStats() {
		out = append(out, metrics.CompressionStat{Syntax: st.Syntax, Instances: st.Instances, BytesIn: st.BytesIn, BytesOut: st.BytesOut, Seconds: st.Seconds})
	}
	return out
}
