package progress

import (
	"fmt"
	"strings"
	"time"
)

// line renders the bar's current state on one line, without line ending.
func (b *Bar) line(now time.Time) string {
	elapsed := now.Sub(b.start)
	var parts []string
	if b.label != "" {
		parts = append(parts, b.label)
	}
	ok := b.n - b.failed // amount and percentage count what succeeded
	if b.total > 0 {
		parts = append(parts, b.amount(ok)+"/"+b.amount(b.total))
		pct := float64(ok) * 100 / float64(b.total)
		parts = append(parts, fmt.Sprintf("%3.0f%%", pct))
	} else {
		parts = append(parts, b.amount(ok))
	}
	if b.failed > 0 {
		parts = append(parts, b.amount(b.failed)+" failed")
	}
	rate := ratePerSecond(b.n, elapsed)
	parts = append(parts, b.rate(ratePerSecond(ok, elapsed)), "elapsed "+clock(elapsed))
	if b.total > 0 && b.n < b.total && rate > 0 {
		left := time.Duration(float64(b.total-b.n) / rate * float64(time.Second))
		parts = append(parts, "ETA "+clock(left))
	}
	return strings.Join(parts, "  ")
}

// doneLine renders the closing line printed by Finish on plain output.
func (b *Bar) doneLine(now time.Time) string {
	elapsed := now.Sub(b.start)
	s := "done " + b.amount(b.n-b.failed)
	if b.label != "" {
		s = b.label + "  " + s
	}
	if b.failed > 0 {
		s += ", " + b.amount(b.failed) + " failed"
	}
	return s + " in " + clock(elapsed) + " (" + b.rate(ratePerSecond(b.n-b.failed, elapsed)) + ")"
}

// amount formats a count, as a byte size in Bytes mode.
func (b *Bar) amount(n int64) string {
	if b.bytes {
		return Size(n)
	}
	return fmt.Sprintf("%d", n)
}

// rate formats a per-second rate, as a byte size in Bytes mode.
func (b *Bar) rate(perSec float64) string {
	if b.bytes {
		return Size(int64(perSec)) + "/s"
	}
	return fmt.Sprintf("%.1f/s", perSec)
}

// ratePerSecond divides n by elapsed, returning 0 for a zero duration.
func ratePerSecond(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// Size formats a byte count with binary units, e.g. "1.5 MiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
