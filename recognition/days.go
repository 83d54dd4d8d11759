package recognition

import (
	"fmt"
	"time"
)

// chinaTime is China Standard Time: StudyDate values and validity windows
// are calendar days there (China has one time zone and no daylight saving).
func chinaTime() *time.Location { return cst }

// cst is China Standard Time, made once: a zone made per call cost an
// allocation on every study row of every QIDO answer.
var cst = time.FixedZone("CST", 8*3600)

// day returns the calendar day of t in China Standard Time, at midnight.
func day(t time.Time) time.Time {
	t = t.In(chinaTime())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, chinaTime())
}

// parseDA parses a DICOM DA value (YYYYMMDD) as a day in China Standard Time.
func parseDA(s string) (time.Time, error) {
	t, err := time.ParseInLocation("20060102", s, chinaTime())
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not YYYYMMDD", s)
	}
	return t, nil
}

// parseISODate parses a configuration date (YYYY-MM-DD).
func parseISODate(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", s, chinaTime())
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return t, nil
}

// isoDate formats a day as YYYY-MM-DD.
func isoDate(t time.Time) string { return t.Format("2006-01-02") }
