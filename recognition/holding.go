package recognition

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/imgcloud/gateway/index"
)

// The holding institution of a study decides who sees it (consent.Visible)
// and who may add instances to it (Admit). It is fixed by the eligibility
// check of the study's first stored instances and kept in its eligibility
// record; later instances never change it, whoever stores them and
// whatever they say. Only an administrator moves it (MoveHolding).

// AttributedByAdmin marks a holding institution an administrator set.
const AttributedByAdmin = "admin"

// holdingID returns the id of the institution holding a stored study: the
// one recorded at its first check (registered or not), else the
// registry's mapping of its names and issuer ("" if none): a PACS cannot
// add to a study without a holder (see Admit), so those names are the
// first instances'. When the record cannot be read it is "" (only
// administrators see the study meanwhile), never a guess from names.
func (s *Service) holdingID(ctx context.Context, st *index.Study) string {
	e, err := s.storedEligibility(ctx, st.UID)
	switch {
	case err != nil:
		s.log.Warn("holding institution unknown", "study", st.UID, "err", err)
		return ""
	case e != nil && e.Holding != "":
		return e.Holding
	}
	in, _ := s.state().attribute(factsOf(st, s.db.SeriesOf(st.UID)))
	if in == nil {
		return ""
	}
	return in.ID
}

// checkLock returns the lock that serialises the eligibility checks and
// holding moves of a study, so that a move is never overwritten by a
// check that read the record before it.
func (s *Service) checkLock(study string) func() {
	h := fnv.New32a()
	h.Write([]byte(study))
	m := &s.checkLocks[h.Sum32()%uint32(len(s.checkLocks))]
	m.Lock()
	return m.Unlock
}

// MoveHolding makes institution the holding institution of a stored study
// (admin): its clinicians see the study from now on, the previous
// holder's no longer do (unless a consent covers them). The eligibility
// check runs again for the new holder. It returns the previous holding
// institution ("" if none) and the new outcome.
func (s *Service) MoveHolding(ctx context.Context, study, institution string) (prev string, e *Eligibility, err error) {
	institution = strings.TrimSpace(institution)
	if institution == "" {
		return "", nil, invalidf("institution is required (the id of a registered institution)")
	}
	if s.state().institutions[institution] == nil {
		return "", nil, invalidf("institution %q is not in the registry", institution)
	}
	st, err := s.db.Study(study)
	if errors.Is(err, index.ErrNotFound) {
		return "", nil, notFoundf("study %s", study)
	}
	if err != nil {
		return "", nil, fmt.Errorf("move holding of %s: %w", study, err)
	}
	unlock := s.checkLock(study)
	defer unlock()
	prev = s.holdingID(ctx, st)
	e, err = s.check(ctx, study, institution)
	if err != nil {
		return "", nil, fmt.Errorf("move holding of %s: %w", study, err)
	}
	// Cached private blocks carry the old holder's view.
	s.blocks.Clear()
	s.blockCount.Store(0)
	return prev, e, nil
}

// IndexHoldings records in the index the holders of the studies whose
// holding key is still unknown but whose eligibility record names one (an
// index upgraded from an older layout, or rebuilt by reindex), so that
// clinicians' searches read their own studies only (archive's visible
// plan). It returns how many it recorded. The gateway runs it at start, in
// the background: until it ends those studies are read by every
// institution's searches, with the same answers. A complete pass leaves a
// mark in the index naming the registry it ran with, and the next starts
// skip it until the registry changes or the index is upgraded or rebuilt:
// the pass reads one record per study without a holder, and without a
// registry that is every study. Records it reads are not cached, so its
// memory does not grow with the archive.
func (s *Service) IndexHoldings(ctx context.Context) (int, error) {
	mark := s.holdingsMark()
	if done, err := s.db.HoldingsMark(); err != nil {
		return 0, fmt.Errorf("index holding institutions: %w", err)
	} else if done == mark {
		return 0, nil
	}
	n := 0
	var ferr error
	err := s.db.ScanKey(index.KindHolding, "", true, func(c index.Cursor) bool {
		if ferr = ctx.Err(); ferr != nil {
			return false
		}
		unlock := s.checkLock(c.UID) // not while a check or move writes it
		defer unlock()
		var e Eligibility
		if err := s.rec.Get(ctx, kindEligibility, c.UID, &e); err != nil || e.Holding == "" {
			return true // none (or unreadable: the key stays unknown, which every search reads)
		}
		if ferr = s.db.SetHolding(c.UID, e.Holding); ferr != nil {
			return false
		}
		if n++; n%10000 == 0 {
			s.log.Info("index holding institutions", "studies", n)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		err = s.db.SetHoldingsMark(mark)
	}
	if err != nil {
		return n, fmt.Errorf("index holding institutions: %w", err)
	}
	return n, nil
}

// holdingsMark names the registry's institutions (a hash of their ids
// and records), for IndexHoldings' mark.
func (s *Service) holdingsMark() string {
	insts, _ := s.state().institutionLists() // sorted by id
	h := sha256.New()
	for _, in := range insts {
		b, _ := json.Marshal(in)
		h.Write(b)
		h.Write([]byte{0})
	}
	return fmt.Sprintf("registry %d %x", len(insts), h.Sum(nil)[:12])
}
