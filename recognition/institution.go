package recognition

import (
	"slices"
	"strings"
	"time"

	"github.com/imgcloud/gateway/records"
)

// Region kinds, from the narrowest to the widest. The narrowest region two
// institutions share is the one a recognition is counted under.
const (
	KindCity          = "city"
	KindProvince      = "province"
	KindAlliance      = "alliance"       // a medical alliance (医联体) or specialist network
	KindCrossProvince = "cross_province" // e.g. 京津冀, 长三角, 成渝
)

// kindRank orders region kinds from narrow to wide.
func kindRank(kind string) int {
	switch kind {
	case KindCity:
		return 0
	case KindProvince:
		return 1
	case KindAlliance:
		return 2
	}
	return 3
}

// Region is a group of institutions inside which results count. Provinces
// are regions without being declared (their id is the GB/T 2260 code, e.g.
// 310000); cities may be declared to give them a name.
type Region struct {
	ID     string `json:"id" yaml:"id"`
	Name   string `json:"name" yaml:"name"`
	NameEN string `json:"name_en,omitempty" yaml:"name_en,omitempty"`
	Kind   string `json:"kind" yaml:"kind"`
	// Line is where the region was defined in a configuration file.
	Line int `json:"-" yaml:"-"`
}

// Certification is an institution's imaging quality-control certification
// (质控合格), without which its results are not recognised.
type Certification struct {
	// By names the quality-control centre that certified the institution.
	By string `json:"by,omitempty" yaml:"by,omitempty"`
	// From and Until bound the validity, inclusive (YYYY-MM-DD).
	From  string `json:"from" yaml:"from"`
	Until string `json:"until" yaml:"until"`
}

// Institution is a hospital or imaging centre that pushes studies or asks
// for them.
type Institution struct {
	// ID is short and path-safe (letters, digits, '.', '_', '-').
	ID     string `json:"id" yaml:"id"`
	Name   string `json:"name" yaml:"name"` // official Chinese name
	NameEN string `json:"name_en,omitempty" yaml:"name_en,omitempty"`
	// Aliases are other spellings found in InstitutionName (0008,0080).
	Aliases []string `json:"aliases,omitempty" yaml:"aliases,omitempty"`
	// Issuers are the IssuerOfPatientID (0010,0021) values of its patient
	// IDs; the first is assumed when a study carries none.
	Issuers []string `json:"issuers,omitempty" yaml:"issuers,omitempty"`
	// Province is the GB/T 2260 code of the province (e.g. 330000).
	Province string `json:"province" yaml:"province"`
	// City is the GB/T 2260 code of the prefecture-level city (optional).
	City string `json:"city,omitempty" yaml:"city,omitempty"`
	// Level is the hospital grade, e.g. 三级甲等 (tertiary grade A).
	Level         string         `json:"level,omitempty" yaml:"level,omitempty"`
	Certification *Certification `json:"certification,omitempty" yaml:"certification,omitempty"`
	// Regions are the alliances and cross-province regions it belongs to,
	// besides its province and city.
	Regions []string `json:"regions,omitempty" yaml:"regions,omitempty"`
	// DefaultCharset is the character set its modalities write text in
	// when a file names none in (0008,0005), or names one its bytes do not
	// fit (GB18030 for most domestic modalities); "" for the gateway's
	// --default-charset. A DICOM defined term or a common name
	// (dcm.NormalizeCharset).
	DefaultCharset string `json:"default_charset,omitempty" yaml:"default_charset,omitempty"`
	// CompressAtIngest asks the archive to store the native (uncompressed)
	// pixel data this institution sends compressed in a lossless syntax:
	// jpeg-ls-lossless, j2k-lossless or rle; "" or off (the default)
	// stores every file exactly as received (codec.Lossless).
	CompressAtIngest string `json:"compress_at_ingest,omitempty" yaml:"compress_at_ingest,omitempty"`
	// Line is where the institution was defined in a configuration file.
	Line int `json:"-" yaml:"-"`
}

// Memberships returns every region id the institution belongs to: its
// province, its city and its declared regions.
func (in *Institution) Memberships() []string {
	out := []string{in.Province}
	if in.City != "" {
		out = append(out, in.City)
	}
	return append(out, in.Regions...)
}

// MemberOf reports whether the institution belongs to region id.
func (in *Institution) MemberOf(id string) bool {
	return id != "" && slices.Contains(in.Memberships(), id)
}

// CertifiedOn reports whether the certification covers the day d.
func (in *Institution) CertifiedOn(d time.Time) bool {
	c := in.Certification
	if c == nil {
		return false
	}
	from, err1 := parseISODate(c.From)
	until, err2 := parseISODate(c.Until)
	if err1 != nil || err2 != nil {
		return false
	}
	d = day(d)
	return !d.Before(from) && !d.After(until)
}

// validate checks an institution on its own; regions are checked against
// the registry by the caller.
func (in *Institution) validate() error {
	switch {
	case !validID(in.ID):
		return invalidf("institution id %q: use letters, digits, '.', '_' or '-' (at most 64)", in.ID)
	case strings.TrimSpace(in.Name) == "":
		return invalidf("institution %s: name is required", in.ID)
	}
	if _, ok := provinces()[in.Province]; !ok {
		return invalidf("institution %s: province %q is not a GB/T 2260 province code such as 310000", in.ID, in.Province)
	}
	if in.City != "" && !isCityCode(in.City, in.Province) {
		return invalidf("institution %s: city %q is not a GB/T 2260 city code inside province %s", in.ID, in.City, in.Province)
	}
	if err := checkCharset(in); err != nil {
		return err
	}
	if err := checkCompression(in); err != nil {
		return err
	}
	for _, is := range in.Issuers {
		if strings.TrimSpace(is) == "" || len(is) > 64 {
			return invalidf("institution %s: issuer %q must be 1 to 64 characters", in.ID, is)
		}
	}
	if c := in.Certification; c != nil {
		from, err := parseISODate(c.From)
		if err != nil {
			return invalidf("institution %s: certification.from: %v", in.ID, err)
		}
		until, err := parseISODate(c.Until)
		if err != nil {
			return invalidf("institution %s: certification.until: %v", in.ID, err)
		}
		if until.Before(from) {
			return invalidf("institution %s: certification.until %s is before from %s", in.ID, c.Until, c.From)
		}
	}
	return nil
}

// validate checks a region on its own.
func (r *Region) validate() error {
	switch {
	case !validID(r.ID):
		return invalidf("region id %q: use letters, digits, '.', '_' or '-' (at most 64)", r.ID)
	case r.ID == scopeProvince:
		return invalidf("region id %q is reserved (it means the holding institution's province in catalogue items)", r.ID)
	case strings.TrimSpace(r.Name) == "":
		return invalidf("region %s: name is required", r.ID)
	}
	switch r.Kind {
	case KindCity, KindAlliance, KindCrossProvince:
	case KindProvince:
		return invalidf("region %s: provinces are implicit (GB/T 2260 codes), do not declare them", r.ID)
	default:
		return invalidf("region %s: kind %q is not one of city, alliance, cross_province", r.ID, r.Kind)
	}
	if _, ok := provinces()[r.ID]; ok {
		return invalidf("region %s: the id is a province code", r.ID)
	}
	return nil
}

// validID allows ids that are safe in record keys and paths (records.ValidID)
// and fit a DICOM LO value (64 characters).
func validID(s string) bool { return len(s) <= 64 && records.ValidID(s) }
