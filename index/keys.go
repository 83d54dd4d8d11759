package index

import "fmt"

// Key space. UIDs hold only digits and dots, so "/" is a safe separator and
// prefix scans of "in/{study}/" or "in/{study}/{series}/" are exact.
const (
	prefixStudy    = "st/" // st/{study}                      -> Study
	prefixSeries   = "se/" // se/{study}/{series}             -> Series
	prefixInstance = "in/" // in/{study}/{series}/{sop}       -> Instance
	prefixMeta     = "md/" // md/{study}/{series}/{sop}       -> gzip DICOM JSON
	prefixSOP      = "so/" // so/{sop}                        -> {study}/{series}
	prefixFeed     = "sq/" // sq/{seq as 16 hex digits}           -> {study}/{series}/{sop}
	keySeq         = "meta/seq"
	keyCheckpoint  = "meta/checkpoint"
)

func studyKey(study string) []byte          { return []byte(prefixStudy + study) }
func seriesKey(study, series string) []byte { return []byte(prefixSeries + study + "/" + series) }
func instanceKey(study, series, sop string) []byte {
	return []byte(prefixInstance + study + "/" + series + "/" + sop)
}
func metaKey(study, series, sop string) []byte {
	return []byte(prefixMeta + study + "/" + series + "/" + sop)
}
func sopKey(sop string) []byte { return []byte(prefixSOP + sop) }

func feedKey(seq uint64) []byte { return []byte(fmt.Sprintf("%s%016x", prefixFeed, seq)) }
