// Package auth knows who is asking: the Principal that authentication puts
// in a request's context (API tokens, JWTs, sessions), and the roles the
// gateway distinguishes. Who may see or do what is package access.
package auth

import "context"

// Role is what kind of party a principal is.
type Role string

// Roles (see the security model in the README).
const (
	RolePACS      Role = "pacs"      // stores studies for its own institution
	RoleClinician Role = "clinician" // queries and views within consent
	RolePatient   Role = "patient"   // a patient, through a share link or patient access
	RolePeer      Role = "peer"      // another province's gateway
	RoleAdmin     Role = "admin"
)

// Principal is the authenticated party of a request.
type Principal struct {
	Role Role `json:"role"`
	// Institution is the institution id the principal acts for (empty for
	// admins and patients).
	Institution string `json:"institution,omitempty"`
	// User names the person or system (clinician id, PACS AE title, ...).
	User string `json:"user,omitempty"`
	// PersonKey is set for patients: the person whose data they may see.
	PersonKey string `json:"person_key,omitempty"`
	// TokenID names the API token used, for rate limits and the audit
	// trail (never the secret).
	TokenID string `json:"token_id,omitempty"`
	// Issuer and Subject are the iss and sub claims of a JWT principal.
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Scope, when set, limits a principal to one study (share links).
	Scope string `json:"scope,omitempty"`
	// Download, for a scoped principal, allows downloading DICOM (see
	// the share rules of package access); without it a share link only
	// shows images.
	Download bool `json:"download,omitempty"`
}

// ID names the credential behind p, unique across institutions: the API
// token id ("token:ID"), or a JWT's issuer and subject ("jwt:ISS#SUB").
// User alone is not an identity: two hospitals may both have a dr.li.
// ID is "" for principals with neither (sessions, --no-auth).
func (p Principal) ID() string {
	switch {
	case p.TokenID != "":
		return "token:" + p.TokenID
	case p.Issuer != "" && p.Subject != "":
		return "jwt:" + p.Issuer + "#" + p.Subject
	}
	return ""
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of a request, if authentication ran.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
