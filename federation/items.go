package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/imgcloud/gateway/dcm"
)

// The private block that marks where each result of a federated search
// lives (documented in docs/federation.md).
const (
	PrivateCreator     = "IMGCLOUD FEDERATION"
	TagPrivateCreator  = "00130010" // LO, the private creator
	TagHoldingGateway  = "00131001" // LO, name of the gateway holding the study
	TagHoldingProvince = "00131002" // LO, its GB/T 2260 province code
	TagProvenance      = "00131003" // CS, LOCAL or VERIFIED (the holder's signature checked)
	tagRetrieveURL     = "00081190"
	tagStudyUID        = "0020000D"
)

// Provenance values of TagProvenance.
const (
	ProvenanceLocal    = "LOCAL"
	ProvenanceVerified = "VERIFIED"
)

// Item is one study of a QIDO-RS answer: DICOM JSON attributes by tag.
type Item map[string]json.RawMessage

// element is the part of a DICOM JSON attribute this package reads.
type element struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value"`
}

// StudyUID returns the item's StudyInstanceUID, validated.
func (it Item) StudyUID() (string, error) {
	raw, ok := it[tagStudyUID]
	if !ok {
		return "", errors.New("a result has no StudyInstanceUID")
	}
	var e element
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Value) != 1 {
		return "", errors.New("a result's StudyInstanceUID is malformed")
	}
	uid, _ := e.Value[0].(string)
	if !dcm.ValidUID(uid) {
		return "", errors.New("a result's StudyInstanceUID is not a valid UID")
	}
	return uid, nil
}

// validate checks an item from a peer: attribute keys are tags, values
// are JSON objects, the study UID is valid. It drops what the asking
// gateway sets itself (RetrieveURL, the federation block).
func (it Item) validate() (string, error) {
	for k, v := range it {
		if len(k) != 8 || strings.Trim(k, "0123456789ABCDEF") != "" {
			return "", fmt.Errorf("attribute key %q is not a tag", truncate(k, 20))
		}
		if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '{' {
			return "", fmt.Errorf("attribute %s is not an object", k)
		}
		if strings.HasPrefix(k, "0013") || k == tagRetrieveURL {
			delete(it, k)
		}
	}
	return it.StudyUID()
}

// mark adds the federation block and, when retrieveURL is set, the
// RetrieveURL.
func (it Item) mark(gateway, province, provenance, retrieveURL string) {
	str := func(tag, vr, v string) {
		b, _ := json.Marshal(element{VR: vr, Value: []any{v}})
		it[tag] = b
	}
	str(TagPrivateCreator, "LO", PrivateCreator)
	str(TagHoldingGateway, "LO", gateway)
	str(TagHoldingProvince, "LO", province)
	str(TagProvenance, "CS", provenance)
	if retrieveURL != "" {
		str(tagRetrieveURL, "UR", retrieveURL)
	}
}

// Merge puts the local answer first, then each peer's in configuration
// order, keeping the first result of each StudyInstanceUID. Every result
// is marked with the gateway holding it; a peer's result gets a
// RetrieveURL through this gateway's proxy,
// {root}/peers/{peer}/studies/{uid}, where root is this gateway's service
// root as the client sees it. It returns the failures (one per failed
// peer) and notes for the Warning header.
func (s *Service) Merge(local []Item, answers []Answer, root string) (items []Item, warnings []string) {
	seen := map[string]bool{}
	for _, it := range local {
		uid, err := it.StudyUID()
		if err != nil || seen[uid] {
			continue
		}
		seen[uid] = true
		it.mark(s.opt.Name, s.opt.Province, ProvenanceLocal, "")
		items = append(items, it)
	}
	peers, warnings := s.mergePeers(seen, answers, root)
	return append(items, peers...), warnings
}

// mergePeers is Merge's part for the peers' answers: seen holds the
// StudyInstanceUIDs already taken and gains the peers'.
func (s *Service) mergePeers(seen map[string]bool, answers []Answer, root string) (items []Item, warnings []string) {
	for _, a := range answers {
		if a.Err != nil {
			warnings = append(warnings, Warning(a.Err))
			continue
		}
		if a.Truncated {
			warnings = append(warnings, `299 gateway "peer `+a.Peer.Name+fmt.Sprintf(` answered more than %d results; the rest were left out"`, s.opt.MaxResults))
		}
		for _, it := range a.Items {
			uid, _ := it.StudyUID() // validated on receipt
			if seen[uid] {
				continue
			}
			seen[uid] = true
			it.mark(a.Peer.Name, a.Peer.Province, ProvenanceVerified, root+"/peers/"+a.Peer.Name+"/studies/"+uid)
			items = append(items, it)
		}
	}
	return items, warnings
}

// markLocal adds the federation block to one of this gateway's results,
// as mark does to an Item. It adds elements to ds, a data set built for
// this answer, and changes none it holds.
func (s *Service) markLocal(ds dcm.Dataset) {
	str := func(tag, vr, v string) { ds[tag] = &dcm.Element{VR: vr, Value: []any{v}} }
	str(TagPrivateCreator, "LO", PrivateCreator)
	str(TagHoldingGateway, "LO", s.opt.Name)
	str(TagHoldingProvince, "LO", s.opt.Province)
	str(TagProvenance, "CS", ProvenanceLocal)
}

// localUID is a local result's StudyInstanceUID, if it is a valid one
// (Item.StudyUID's rule).
func localUID(ds dcm.Dataset) (string, bool) {
	e := ds[tagStudyUID]
	if e == nil || len(e.Value) != 1 {
		return "", false
	}
	uid, _ := e.Value[0].(string)
	return uid, dcm.ValidUID(uid)
}
