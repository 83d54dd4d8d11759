// Package archtest holds the tests that keep ARCHITECTURE.md true: every
// package of the module is named in it, and imports point the way it says.
// It has no code of its own; the tests read `go list -json ./...`.
package archtest
