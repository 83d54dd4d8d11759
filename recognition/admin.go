package recognition

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/imgcloud/gateway/records"
)

// Import loads a registry and/or a catalogue file (either may be nil): every
// entry is validated against the resulting registry before anything is
// written, then written as records, replacing entries with the same id.
// Entries that only exist in the store (added through the admin API) stay.
func (s *Service) Import(ctx context.Context, reg *RegistryFile, cat *CatalogueFile) error {
	if err := validateFiles(reg, cat); err != nil {
		return err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	cur := s.state()
	insts, regions := cur.institutionLists()
	items := cur.sortedItems
	if reg != nil {
		regions = mergeByID(regions, reg.Regions, func(r *Region) string { return r.ID })
		insts = mergeByID(insts, reg.Institutions, func(in *Institution) string { return in.ID })
	}
	if cat != nil {
		items = mergeByID(items, cat.Items, func(it *Item) string { return it.Code })
	}
	next := newState(insts, regions, items)
	if err := checkNames(insts); err != nil {
		return err
	}
	for _, in := range insts {
		if err := next.checkInstitutionRegions(in); err != nil {
			return atLine(in.Line, err)
		}
	}
	for _, it := range items {
		if err := next.checkItemRegions(it); err != nil {
			return atLine(it.Line, err)
		}
	}
	if reg != nil {
		for _, r := range reg.Regions {
			if err := s.rec.Put(ctx, kindRegions, r.ID, r); err != nil {
				return fmt.Errorf("import region %s: %w", r.ID, err)
			}
		}
		for _, in := range reg.Institutions {
			if err := s.rec.Put(ctx, kindInstitutions, in.ID, in); err != nil {
				return fmt.Errorf("import institution %s: %w", in.ID, err)
			}
		}
	}
	if cat != nil {
		for _, it := range cat.Items {
			if err := s.rec.Put(ctx, kindCatalogue, it.Code, it); err != nil {
				return fmt.Errorf("import item %s: %w", it.Code, err)
			}
		}
	}
	s.st.Store(next)
	return s.bump(ctx)
}

// validateFiles checks every entry of the files on its own, and that no
// id appears twice, so that files that did not come through ParseRegistry
// or ParseCatalogue (the JSON API) are held to the same rules.
func validateFiles(reg *RegistryFile, cat *CatalogueFile) error {
	seen := map[string]bool{}
	once := func(kind, id string, line int) error {
		if seen[kind+"/"+id] {
			return atLine(line, invalidf("%s %s is defined twice", kind, id))
		}
		seen[kind+"/"+id] = true
		return nil
	}
	if reg != nil {
		for _, r := range reg.Regions {
			if r == nil {
				return invalidf("empty region")
			}
			if err := r.validate(); err != nil {
				return atLine(r.Line, err)
			}
			if err := once("region", r.ID, r.Line); err != nil {
				return err
			}
		}
		for _, in := range reg.Institutions {
			if in == nil {
				return invalidf("empty institution")
			}
			if err := in.validate(); err != nil {
				return atLine(in.Line, err)
			}
			if err := once("institution", in.ID, in.Line); err != nil {
				return err
			}
		}
	}
	if cat != nil {
		for _, it := range cat.Items {
			if it == nil {
				return invalidf("empty item")
			}
			if err := it.validate(); err != nil {
				return atLine(it.Line, err)
			}
			if err := once("item", it.Code, it.Line); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNames verifies that no two institutions share a name or alias.
func checkNames(insts []*Institution) error {
	owner := map[string]string{}
	for _, in := range insts {
		for _, n := range slices.Concat([]string{in.Name, in.NameEN}, in.Aliases) {
			k := nameKey(n)
			if k == "" {
				continue
			}
			if o, ok := owner[k]; ok && o != in.ID {
				return atLine(in.Line, fmt.Errorf("%w: name %q is a name of both %s and %s", ErrConflict, n, o, in.ID))
			}
			owner[k] = in.ID
		}
	}
	return nil
}

// atLine prefixes an error with the configuration line it comes from.
func atLine(line int, err error) error {
	if line > 0 {
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// mergeByID returns base with the entries of add replacing or joining it.
func mergeByID[T any](base, add []*T, id func(*T) string) []*T {
	out := slices.Clone(base)
	for _, a := range add {
		i := slices.IndexFunc(out, func(b *T) bool { return id(b) == id(a) })
		if i >= 0 {
			out[i] = a
		} else {
			out = append(out, a)
		}
	}
	return out
}

// Institutions returns the registry's institutions and regions, by id.
func (s *Service) Institutions() ([]*Institution, []*Region) { return s.state().institutionLists() }

// Institution returns one institution.
func (s *Service) Institution(id string) (*Institution, error) {
	if in := s.state().institutions[id]; in != nil {
		return in, nil
	}
	return nil, notFoundf("institution %s", id)
}

// Items returns the catalogue, by code.
func (s *Service) Items() []*Item { return s.state().sortedItems }

// Item returns one catalogue item.
func (s *Service) Item(code string) (*Item, error) {
	if it := s.state().items[code]; it != nil {
		return it, nil
	}
	return nil, notFoundf("catalogue item %s", code)
}

// PutInstitution adds or replaces an institution (admin).
func (s *Service) PutInstitution(ctx context.Context, in *Institution) error {
	if err := in.validate(); err != nil {
		return err
	}
	return s.change(ctx, func(insts []*Institution, regs []*Region, items []*Item) ([]*Institution, []*Region, []*Item, error) {
		next := newState(nil, regs, nil)
		if err := next.checkInstitutionRegions(in); err != nil {
			return nil, nil, nil, err
		}
		for _, other := range insts {
			if other.ID == in.ID {
				continue
			}
			for _, n := range slices.Concat([]string{in.Name, in.NameEN}, in.Aliases) {
				if k := nameKey(n); k != "" && slices.ContainsFunc(slices.Concat([]string{other.Name, other.NameEN}, other.Aliases), func(o string) bool { return nameKey(o) == k }) {
					return nil, nil, nil, fmt.Errorf("%w: name %q is already a name of institution %s", ErrConflict, n, other.ID)
				}
			}
		}
		if err := s.rec.Put(ctx, kindInstitutions, in.ID, in); err != nil {
			return nil, nil, nil, fmt.Errorf("put institution %s: %w", in.ID, err)
		}
		return mergeByID(insts, []*Institution{in}, func(i *Institution) string { return i.ID }), regs, items, nil
	})
}

// DeleteInstitution removes an institution (admin). Studies it held become
// not eligible until it is registered again.
func (s *Service) DeleteInstitution(ctx context.Context, id string) error {
	return s.change(ctx, func(insts []*Institution, regs []*Region, items []*Item) ([]*Institution, []*Region, []*Item, error) {
		i := slices.IndexFunc(insts, func(in *Institution) bool { return in.ID == id })
		if i < 0 {
			return nil, nil, nil, notFoundf("institution %s", id)
		}
		if err := s.rec.Delete(ctx, kindInstitutions, id); err != nil {
			return nil, nil, nil, fmt.Errorf("delete institution %s: %w", id, err)
		}
		return slices.Delete(slices.Clone(insts), i, i+1), regs, items, nil
	})
}

// PutRegion adds or replaces a region (admin).
func (s *Service) PutRegion(ctx context.Context, r *Region) error {
	if err := r.validate(); err != nil {
		return err
	}
	return s.change(ctx, func(insts []*Institution, regs []*Region, items []*Item) ([]*Institution, []*Region, []*Item, error) {
		if err := s.rec.Put(ctx, kindRegions, r.ID, r); err != nil {
			return nil, nil, nil, fmt.Errorf("put region %s: %w", r.ID, err)
		}
		return insts, mergeByID(regs, []*Region{r}, func(x *Region) string { return x.ID }), items, nil
	})
}

// DeleteRegion removes a region no institution or item names (admin).
func (s *Service) DeleteRegion(ctx context.Context, id string) error {
	return s.change(ctx, func(insts []*Institution, regs []*Region, items []*Item) ([]*Institution, []*Region, []*Item, error) {
		i := slices.IndexFunc(regs, func(r *Region) bool { return r.ID == id })
		if i < 0 {
			return nil, nil, nil, notFoundf("region %s", id)
		}
		for _, in := range insts {
			if slices.Contains(in.Regions, id) {
				return nil, nil, nil, fmt.Errorf("%w: region %s is used by institution %s", ErrConflict, id, in.ID)
			}
		}
		for _, it := range items {
			if slices.Contains(it.Regions, id) {
				return nil, nil, nil, fmt.Errorf("%w: region %s is used by item %s", ErrConflict, id, it.Code)
			}
		}
		if err := s.rec.Delete(ctx, kindRegions, id); err != nil {
			return nil, nil, nil, fmt.Errorf("delete region %s: %w", id, err)
		}
		return insts, slices.Delete(slices.Clone(regs), i, i+1), items, nil
	})
}

// PutItem adds or replaces a catalogue item (admin).
func (s *Service) PutItem(ctx context.Context, it *Item) error {
	if err := it.validate(); err != nil {
		return err
	}
	return s.change(ctx, func(insts []*Institution, regs []*Region, items []*Item) ([]*Institution, []*Region, []*Item, error) {
		if err := newState(nil, regs, nil).checkItemRegions(it); err != nil {
			return nil, nil, nil, err
		}
		if err := s.rec.Put(ctx, kindCatalogue, it.Code, it); err != nil {
			return nil, nil, nil, fmt.Errorf("put item %s: %w", it.Code, err)
		}
		return insts, regs, mergeByID(items, []*Item{it}, func(x *Item) string { return x.Code }), nil
	})
}

// DeleteItem removes a catalogue item (admin). Past decisions keep the
// code, name and price they were made with.
func (s *Service) DeleteItem(ctx context.Context, code string) error {
	return s.change(ctx, func(insts []*Institution, regs []*Region, items []*Item) ([]*Institution, []*Region, []*Item, error) {
		i := slices.IndexFunc(items, func(it *Item) bool { return it.Code == code })
		if i < 0 {
			return nil, nil, nil, notFoundf("catalogue item %s", code)
		}
		if err := s.rec.Delete(ctx, kindCatalogue, code); err != nil {
			return nil, nil, nil, fmt.Errorf("delete item %s: %w", code, err)
		}
		return insts, regs, slices.Delete(slices.Clone(items), i, i+1), nil
	})
}

// change applies an edit under the edit lock and installs the new
// snapshot when fn succeeds. fn writes the record itself, after its checks.
func (s *Service) change(ctx context.Context, fn func([]*Institution, []*Region, []*Item) ([]*Institution, []*Region, []*Item, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	cur := s.state()
	insts, regs := cur.institutionLists()
	insts, regs, items, err := fn(insts, regs, cur.sortedItems)
	if err != nil {
		if errors.Is(err, records.ErrInvalid) {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return err
	}
	s.st.Store(newState(insts, regs, items))
	return s.bump(ctx)
}

// Export returns the registry and the catalogue as files.
func (s *Service) Export() (*RegistryFile, *CatalogueFile) {
	insts, regs := s.Institutions()
	return &RegistryFile{Regions: regs, Institutions: insts}, &CatalogueFile{Items: s.Items()}
}
