package main

import (
	"log/slog"
	"strings"

	"github.com/imgcloud/gateway/codec"
	"github.com/imgcloud/gateway/codec/codecs"
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
