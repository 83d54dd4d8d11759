// Package recognition implements mutual recognition of imaging results
// between hospitals (检查检验结果互认): the institutions registry, the
// recognition catalogue, the eligibility check at ingest, the recognition
// tag of a study for an asking institution (also shown as a private DICOM
// block), the order-time check, physician decisions and savings statistics.
//
// Everything it keeps is a domain record (see package records): written to
// object storage first and to the index second, so a reindex restores it.
// The registry and catalogue are also held in memory as an immutable
// snapshot that edits replace.
//
// Dates are calendar days in China Standard Time (UTC+8): a StudyDate is
// written in local time, so the gateway's clock is read in the same zone
// before days are compared.
package recognition
