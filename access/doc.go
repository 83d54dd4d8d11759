// Package access decides who may see or do what, and is the only place
// that does:
//
//   - which roles may call a route (Policy, keyed on the router's pattern;
//     a route without a rule is refused);
//   - what a share-link session may read (one study, viewing or download);
//   - which studies a principal may see (Visible: own institution, own
//     person, a consent in force; no principal sees nothing);
//   - what a PACS may store (its own institution's studies) and who may
//     fan a search out to peers.
//
// Authentication (who is asking) is package auth; the facts the rules
// read (registry, holdings, consents) come through small interfaces
// defined here.
package access
