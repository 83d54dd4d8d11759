package dimse

import (
	"context"
	"fmt"
	"io"
)

// DIMSE-N commands (PS3.7 E.2) and command elements, for Storage
// Commitment.
const (
	NEventReportRQ  uint16 = 0x0100
	NEventReportRSP uint16 = 0x8100
	NActionRQ       uint16 = 0x0130
	NActionRSP      uint16 = 0x8130

	TagRequestedSOPClassUID = 0x0003
	TagRequestedSOPInstance = 0x1001
	TagEventTypeID          = 0x1002
	TagActionTypeID         = 0x1008
)

// maxNDataSetBytes bounds the data set of an N-ACTION or N-EVENT-REPORT:
// a storage commitment request lists about 130 bytes per instance, so
// 16 MiB is over 100,000 instances.
const maxNDataSetBytes = 16 << 20

// ActionRequest is an N-ACTION-RQ with its data set (PS3.7 10.1.4).
type ActionRequest struct {
	Command               Command
	SOPClass, SOPInstance string // the Requested SOP Class and Instance
	ActionType            uint16
	TransferSyntax        string
	// Data is the action information (nil when none was sent).
	Data []byte
}

// EventReport is an N-EVENT-REPORT-RQ the server sends after answering an
// N-ACTION (the Storage Commitment result, PS3.4 J.3.3).
type EventReport struct {
	SOPClass, SOPInstance string
	EventType             uint16
	// Encode returns the event information in a transfer syntax: the
	// report may travel on another association than the request.
	Encode func(transferSyntax string) []byte
}

// EventRequest is an N-EVENT-REPORT-RQ received (by an SCU's receiver).
type EventRequest struct {
	Command               Command
	SOPClass, SOPInstance string
	EventType             uint16
	TransferSyntax        string
	Data                  []byte
}

// ActionHandler is implemented by Handlers that serve N-ACTION.
type ActionHandler interface {
	// Action answers an N-ACTION-RQ with a status and comment; a report
	// not nil is then sent on the same association.
	Action(ctx context.Context, a *Association, rq *ActionRequest) (status uint16, comment string, report *EventReport)
	// Undelivered is called when the association ends (release, abort,
	// error) before the peer confirmed a report with N-EVENT-REPORT-RSP:
	// the handler sends it over a new association (PS3.4 J.3.3).
	Undelivered(ctx context.Context, a *Association, report *EventReport)
}

// EventHandler is implemented by Handlers that receive N-EVENT-REPORT
// (the requester side of Storage Commitment, listening for results).
type EventHandler interface {
	EventReport(ctx context.Context, a *Association, rq *EventRequest) (status uint16)
}

// nData reads the spooled data set of a DIMSE-N request (nil if none).
func nData(m *message) ([]byte, error) {
	if m.data == nil {
		return nil, nil
	}
	r, err := m.data.reader()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxNDataSetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read data set: %w", err)
	}
	if len(b) > maxNDataSetBytes {
		return nil, fmt.Errorf("data set larger than %d bytes", maxNDataSetBytes)
	}
	return b, nil
}

// action serves an N-ACTION-RQ and sends its report, if any.
func (c *conn) action(ctx context.Context, m *message) error {
	cls, inst := m.rq.String(TagRequestedSOPClassUID), m.rq.String(TagRequestedSOPInstance)
	typ, _ := m.rq.U16(TagActionTypeID)
	rsp := func(status uint16, comment string) Command {
		r := Response(m.rq, status, comment)
		r.SetString(TagAffectedSOPClassUID, cls)
		r.SetString(TagAffectedSOPInstance, inst)
		r.SetU16(TagActionTypeID, typ)
		return r
	}
	h, ok := c.s.opt.Handler.(ActionHandler)
	switch {
	case !ok:
		return c.send(m.ctx, rsp(0x0211, "N-ACTION is not supported"), nil)
	case cls != c.a.as[m.ctx]:
		// 0x0122: SOP class not supported (on this context).
		return c.send(m.ctx, rsp(0x0122, "Requested SOP Class differs from the presentation context's"), nil)
	}
	data, err := nData(m)
	if err != nil {
		return c.send(m.ctx, rsp(0x0110, err.Error()), nil)
	}
	status, comment, report := h.Action(ctx, c.a, &ActionRequest{Command: m.rq, SOPClass: cls, SOPInstance: inst,
		ActionType: typ, TransferSyntax: c.a.ts[m.ctx], Data: data})
	var id uint16
	if report != nil {
		c.wmu.Lock()
		c.msgID++
		id = c.msgID
		c.wmu.Unlock()
		if c.reports == nil {
			c.reports = map[uint16]*EventReport{}
		}
		c.reports[id] = report
	}
	if err := c.send(m.ctx, rsp(status, comment), nil); err != nil || report == nil {
		return err
	}
	cmd := Command{}
	cmd.SetString(TagAffectedSOPClassUID, report.SOPClass)
	cmd.SetU16(TagCommandField, NEventReportRQ)
	cmd.SetU16(TagMessageID, id)
	cmd.SetU16(TagDataSetType, 0)
	cmd.SetString(TagAffectedSOPInstance, report.SOPInstance)
	cmd.SetU16(TagEventTypeID, report.EventType)
	return c.send(m.ctx, cmd, report.Encode(c.a.ts[m.ctx]))
}

// reported takes note of an N-EVENT-REPORT-RSP: the report is delivered
// whatever its status (a refusal is the peer's to log, not to resend).
func (c *conn) reported(rsp Command) {
	id, _ := rsp.U16(TagMessageIDRespondedTo)
	st, _ := rsp.U16(TagStatus)
	if _, ok := c.reports[id]; ok {
		delete(c.reports, id)
		c.a.Log.Info("N-EVENT-REPORT confirmed", "status", fmt.Sprintf("%04X", st))
	}
}

// undelivered hands the reports the peer never confirmed to the handler.
func (c *conn) undelivered(ctx context.Context) {
	h, ok := c.s.opt.Handler.(ActionHandler)
	if !ok {
		return
	}
	for id, r := range c.reports {
		delete(c.reports, id)
		h.Undelivered(ctx, c.a, r)
	}
}

// eventReport serves an N-EVENT-REPORT-RQ (a receiver of results).
func (c *conn) eventReport(ctx context.Context, m *message) error {
	typ, _ := m.rq.U16(TagEventTypeID)
	rsp := func(status uint16, comment string) Command {
		r := Response(m.rq, status, comment)
		r.SetU16(TagEventTypeID, typ)
		return r
	}
	h, ok := c.s.opt.Handler.(EventHandler)
	if !ok {
		return c.send(m.ctx, rsp(0x0211, "N-EVENT-REPORT is not supported"), nil)
	}
	data, err := nData(m)
	if err != nil {
		return c.send(m.ctx, rsp(0x0110, err.Error()), nil)
	}
	st := h.EventReport(ctx, c.a, &EventRequest{Command: m.rq, SOPClass: m.rq.String(TagAffectedSOPClassUID),
		SOPInstance: m.rq.String(TagAffectedSOPInstance), EventType: typ, TransferSyntax: c.a.ts[m.ctx], Data: data})
	return c.send(m.ctx, rsp(st, ""), nil)
}

// Action sends an N-ACTION-RQ and returns the status and error comment of
// its N-ACTION-RSP. A report may follow: read it with ReadMessage.
func (c *Client) Action(sopClass, sopInstance string, actionType uint16, data []byte) (uint16, string, error) {
	id, _, ok := c.Context(sopClass)
	if !ok {
		return 0, "", fmt.Errorf("SOP class %s was not accepted", sopClass)
	}
	cmd := Command{}
	cmd.SetU16(TagCommandField, NActionRQ)
	cmd.SetU16(TagMessageID, c.nextID())
	cmd.SetString(TagRequestedSOPClassUID, sopClass)
	cmd.SetString(TagRequestedSOPInstance, sopInstance)
	cmd.SetU16(TagActionTypeID, actionType)
	if err := c.SendMessage(id, cmd, data); err != nil {
		return 0, "", err
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		return 0, "", err
	}
	st, _ := rsp.U16(TagStatus)
	return st, rsp.String(TagErrorComment), nil
}

// EventReport sends an N-EVENT-REPORT-RQ (the gateway delivering a
// storage commitment result on an association it opened) and returns
// the peer's status.
func (c *Client) EventReport(sopClass, sopInstance string, eventType uint16, data []byte) (uint16, error) {
	id, _, ok := c.Context(sopClass)
	if !ok {
		return 0, fmt.Errorf("SOP class %s was not accepted", sopClass)
	}
	cmd := Command{}
	cmd.SetString(TagAffectedSOPClassUID, sopClass)
	cmd.SetU16(TagCommandField, NEventReportRQ)
	cmd.SetU16(TagMessageID, c.nextID())
	cmd.SetString(TagAffectedSOPInstance, sopInstance)
	cmd.SetU16(TagEventTypeID, eventType)
	if err := c.SendMessage(id, cmd, data); err != nil {
		return 0, err
	}
	rsp, err := c.ReadCommand()
	if err != nil {
		return 0, err
	}
	st, _ := rsp.U16(TagStatus)
	return st, nil
}

// Respond sends a response command (no data set) on the context of an
// abstract syntax.
func (c *Client) Respond(sopClass string, rsp Command) error {
	id, _, ok := c.Context(sopClass)
	if !ok {
		return fmt.Errorf("SOP class %s was not accepted", sopClass)
	}
	return c.SendMessage(id, rsp, nil)
}
