package access

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Errors of the AE directory (the admin API maps them to statuses).
var (
	// ErrAENotFound: no AE with that title was added through the API.
	ErrAENotFound = errors.New("AE not found")
	// ErrAEReadOnly: the AE comes from the --dicom-aes file (or --demo),
	// which the API does not change.
	ErrAEReadOnly = errors.New("AE defined in the registry file")
	// ErrAEInvalid: the entry breaks a rule of the registry.
	ErrAEInvalid = errors.New("invalid AE")
)

// AEStore persists the AEs added through the admin API (records.Store).
type AEStore interface {
	Put(ctx context.Context, kind, id string, v any) error
	Delete(ctx context.Context, kind, id string) error
	List(ctx context.Context, kind string, fn func(id string, raw []byte) error) error
}

// aeKind is the record kind of AEs added through the API; the record id
// is the hex of the AE title (titles may hold spaces and other
// characters record ids do not).
const aeKind = "dicom-ae"

// AEEntry is an AE as the admin API lists it, with where it comes from.
type AEEntry struct {
	AE
	// Source is "file" (the --dicom-aes file or --demo: read-only here)
	// or "api".
	Source string `json:"source"`
}

// AEDirectory is the known-AE registry of the DICOM service: the entries
// of the --dicom-aes file, read-only, and those the admin API adds,
// changes and removes (persisted as records, effective at once for new
// associations). An AE title is either in the file or in the API, never
// both, so that the file stays the last word on what it lists.
type AEDirectory struct {
	mu    sync.Mutex
	file  []AE
	api   []AE // sorted by title
	store AEStore
	live  *AEs
}

// NewAEDirectory loads the API's entries from store and builds the
// registry with the file's entries.
func NewAEDirectory(ctx context.Context, file []AE, store AEStore) (*AEDirectory, error) {
	d := &AEDirectory{file: file, store: store}
	if store != nil {
		err := store.List(ctx, aeKind, func(id string, raw []byte) error {
			var ae AE
			if err := json.Unmarshal(raw, &ae); err != nil {
				return fmt.Errorf("read AE record %s: %w", id, err)
			}
			d.api = append(d.api, ae)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load AEs: %w", err)
		}
	}
	live, err := NewAEs(d.all(d.api))
	if err != nil {
		return nil, fmt.Errorf("AEs of the file and the admin API: %w", err)
	}
	d.live = live
	return d, nil
}

func (d *AEDirectory) all(api []AE) []AE { return append(slices.Clone(d.file), api...) }

// AEs is the live registry (the same value for the service's lifetime;
// Put and Delete change what it answers).
func (d *AEDirectory) AEs() *AEs { return d.live }

// List returns every entry, the file's first.
func (d *AEDirectory) List() []AEEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]AEEntry, 0, len(d.file)+len(d.api))
	for _, ae := range d.file {
		out = append(out, AEEntry{AE: ae, Source: "file"})
	}
	for _, ae := range d.api {
		out = append(out, AEEntry{AE: ae, Source: "api"})
	}
	return out
}

func (d *AEDirectory) inFile(aet string) bool {
	return slices.ContainsFunc(d.file, func(ae AE) bool { return ae.AET == aet })
}

// Put adds or replaces the API's entry for ae.AET and reports whether it
// is new. The entry is checked with the others (NewAEs: title, host,
// institution, port, operations) and persisted before it takes effect.
func (d *AEDirectory) Put(ctx context.Context, ae AE) (created bool, err error) {
	ae.AET = strings.TrimSpace(ae.AET)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFile(ae.AET) {
		return false, fmt.Errorf("%w: AE %s is listed in the --dicom-aes file: change it there", ErrAEReadOnly, ae.AET)
	}
	api := slices.Clone(d.api)
	i := slices.IndexFunc(api, func(x AE) bool { return x.AET == ae.AET })
	created = i < 0
	if created {
		api = append(api, ae)
		slices.SortFunc(api, func(a, b AE) int { return strings.Compare(a.AET, b.AET) })
	} else {
		api[i] = ae
	}
	next, err := NewAEs(d.all(api))
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrAEInvalid, err)
	}
	if err := d.store.Put(ctx, aeKind, hex.EncodeToString([]byte(ae.AET)), ae); err != nil {
		return false, fmt.Errorf("save AE %s: %w", ae.AET, err)
	}
	d.api = api
	d.live.replace(next)
	return created, nil
}

// Delete removes the API's entry of an AE title.
func (d *AEDirectory) Delete(ctx context.Context, aet string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFile(aet) {
		return fmt.Errorf("%w: AE %s is listed in the --dicom-aes file: remove it there", ErrAEReadOnly, aet)
	}
	i := slices.IndexFunc(d.api, func(x AE) bool { return x.AET == aet })
	if i < 0 {
		return fmt.Errorf("AE %q: %w", aet, ErrAENotFound)
	}
	api := slices.Delete(slices.Clone(d.api), i, i+1)
	next, err := NewAEs(d.all(api))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAEInvalid, err)
	}
	if err := d.store.Delete(ctx, aeKind, hex.EncodeToString([]byte(aet))); err != nil {
		return fmt.Errorf("delete AE %s: %w", aet, err)
	}
	d.api = api
	d.live.replace(next)
	return nil
}

// replace swaps in the entries of next (a registry built by NewAEs).
func (r *AEs) replace(next *AEs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list, r.ips = next.list, next.ips
}
