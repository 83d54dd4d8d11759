package recognition

import (
	"slices"
	"strings"
)

// state is an immutable snapshot of the registry and the catalogue. Edits
// build a new one; readers never lock.
type state struct {
	institutions map[string]*Institution
	regions      map[string]*Region
	items        map[string]*Item
	sortedItems  []*Item // by code
	byName       map[string]*Institution
	byIssuer     map[string]*Institution
}

// newState indexes institutions, regions and items.
func newState(insts []*Institution, regions []*Region, items []*Item) *state {
	s := &state{
		institutions: map[string]*Institution{},
		regions:      map[string]*Region{},
		items:        map[string]*Item{},
		byName:       map[string]*Institution{},
		byIssuer:     map[string]*Institution{},
	}
	for _, r := range regions {
		s.regions[r.ID] = r
	}
	for _, in := range insts {
		s.institutions[in.ID] = in
		for _, n := range slices.Concat([]string{in.Name, in.NameEN}, in.Aliases) {
			if k := nameKey(n); k != "" {
				s.byName[k] = in
			}
		}
		for _, is := range in.Issuers {
			s.byIssuer[strings.TrimSpace(is)] = in
		}
	}
	for _, it := range items {
		s.items[it.Code] = it
		s.sortedItems = append(s.sortedItems, it)
	}
	slices.SortFunc(s.sortedItems, func(a, b *Item) int { return strings.Compare(a.Code, b.Code) })
	return s
}

// nameKey normalises an institution name for lookup: trimmed, inner
// spaces collapsed, Latin letters lower-cased.
func nameKey(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// institutionLists returns the snapshot's institutions and regions sorted
// by id.
func (s *state) institutionLists() ([]*Institution, []*Region) {
	insts := make([]*Institution, 0, len(s.institutions))
	for _, in := range s.institutions {
		insts = append(insts, in)
	}
	slices.SortFunc(insts, func(a, b *Institution) int { return strings.Compare(a.ID, b.ID) })
	regs := make([]*Region, 0, len(s.regions))
	for _, r := range s.regions {
		regs = append(regs, r)
	}
	slices.SortFunc(regs, func(a, b *Region) int { return strings.Compare(a.ID, b.ID) })
	return insts, regs
}

// knownRegion reports whether id names a declared region, a province or a
// city some institution is in.
func (s *state) knownRegion(id string) bool {
	if _, ok := s.regions[id]; ok {
		return true
	}
	_, ok := provinces()[id]
	return ok
}

// regionKind returns the kind of a region id.
func (s *state) regionKind(id string) string {
	if r, ok := s.regions[id]; ok {
		return r.Kind
	}
	if _, ok := provinces()[id]; ok {
		return KindProvince
	}
	return KindCity
}

// RegionName returns the Chinese name of a region id, or the id.
func (s *state) regionName(id string) string {
	if r, ok := s.regions[id]; ok {
		return r.Name
	}
	if p, ok := provinces()[id]; ok {
		return p[0]
	}
	return id
}

// checkInstitutionRegions verifies that an institution's regions are known.
func (s *state) checkInstitutionRegions(in *Institution) error {
	for _, r := range in.Regions {
		if _, ok := s.regions[r]; !ok {
			return invalidf("institution %s: unknown region %q (declare it under regions)", in.ID, r)
		}
	}
	return nil
}

// checkItemRegions verifies that an item's regions are known.
func (s *state) checkItemRegions(it *Item) error {
	for _, r := range it.Regions {
		if r != scopeProvince && !s.knownRegion(r) {
			return invalidf("item %s: unknown region %q (declare it in the institutions registry)", it.Code, r)
		}
	}
	return nil
}

// attribute finds the institution a study belongs to from its
// InstitutionName values, then its issuer. how says which matched.
func (s *state) attribute(f *Facts) (in *Institution, how string) {
	for _, n := range f.InstitutionNames {
		if in := s.byName[nameKey(n)]; in != nil {
			return in, "institution_name"
		}
	}
	if in := s.byIssuer[f.Issuer]; f.Issuer != "" && in != nil {
		return in, "issuer"
	}
	return nil, ""
}
