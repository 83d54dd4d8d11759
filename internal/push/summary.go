package push

import (
	"fmt"
	"io"
	"time"

	"github.com/imgcloud/gateway/internal/progress"
)

// maxPrintedFailures is how many failures Print lists.
const maxPrintedFailures = 20

// Print writes a human summary: counts, throughput, then up to 20 failures
// with their reasons.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "push: %d files: %d stored, %d failed, %d skipped; %s in %s",
		s.Files, s.Stored, s.Failed, s.Skipped, progress.Size(s.Bytes), s.Duration.Round(time.Millisecond))
	if secs := s.Duration.Seconds(); secs > 0 && s.Bytes > 0 {
		fmt.Fprintf(w, " (%.1f MB/s)", float64(s.Bytes)/1e6/secs)
	}
	fmt.Fprintln(w)
	if len(s.Skips) > 0 {
		fmt.Fprintf(w, "skipped %d: %s, e.g. %s\n", len(s.Skips), s.Skips[0].Reason, s.Skips[0].Path)
	}
	if len(s.Failures) == 0 {
		return
	}
	fmt.Fprintln(w, "failures:")
	for i, f := range s.Failures {
		if i == maxPrintedFailures {
			fmt.Fprintf(w, "  ... and %d more\n", len(s.Failures)-maxPrintedFailures)
			break
		}
		if f.SOPUID != "" {
			fmt.Fprintf(w, "  %s [%s]: %s\n", f.Path, f.SOPUID, f.Reason)
		} else {
			fmt.Fprintf(w, "  %s: %s\n", f.Path, f.Reason)
		}
	}
}
