package dimse

import "fmt"

// Why says in words why an association was rejected (PS3.8 9.3.4):
// permanent or transient, by whom, and the reason.
func (e *RejectError) Why() string {
	kind := "permanently"
	if e.Result == 2 {
		kind = "transiently (try again later)"
	}
	reasons := map[[2]byte]string{
		{1, 1}: "no reason given", {1, 2}: "application context name not supported",
		{1, 3}: "calling AE title not recognized", {1, 7}: "called AE title not recognized",
		{2, 1}: "no reason given", {2, 2}: "protocol version not supported",
		{3, 1}: "temporary congestion", {3, 2}: "local limit exceeded",
	}
	by := map[byte]string{1: "the service user", 2: "the service provider (ACSE)", 3: "the service provider (presentation)"}[e.Source]
	if by == "" {
		by = fmt.Sprintf("source %d", e.Source)
	}
	why, ok := reasons[[2]byte{e.Source, e.Reason}]
	if !ok {
		why = fmt.Sprintf("reason %d", e.Reason)
	}
	return fmt.Sprintf("rejected %s by %s: %s", kind, by, why)
}

// ContextFor returns the id of an accepted presentation context of an
// abstract syntax in one transfer syntax.
func (c *Client) ContextFor(abstract, transferSyntax string) (byte, bool) {
	for id, as := range c.as {
		if as == abstract && c.ts[id] == transferSyntax {
			return id, true
		}
	}
	return 0, false
}

// NextMessageID numbers a request the caller builds itself.
func (c *Client) NextMessageID() uint16 { return c.nextID() }
