package dimse

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Command fields (PS3.7 E.1).
const (
	CStoreRQ  uint16 = 0x0001
	CStoreRSP uint16 = 0x8001
	CFindRQ   uint16 = 0x0020
	CFindRSP  uint16 = 0x8020
	CEchoRQ   uint16 = 0x0030
	CEchoRSP  uint16 = 0x8030
	CGetRQ    uint16 = 0x0010
	CGetRSP   uint16 = 0x8010
	CMoveRQ   uint16 = 0x0021
	CMoveRSP  uint16 = 0x8021
	CCancelRQ uint16 = 0x0FFF
)

// Command set elements (group 0000), by element number.
const (
	tagGroupLength          = 0x0000
	TagAffectedSOPClassUID  = 0x0002
	TagCommandField         = 0x0100
	TagMessageID            = 0x0110
	TagMessageIDRespondedTo = 0x0120
	TagPriority             = 0x0700
	TagDataSetType          = 0x0800
	TagStatus               = 0x0900
	TagErrorComment         = 0x0902
	TagMoveDestination      = 0x0600
	TagAffectedSOPInstance  = 0x1000
	TagRemaining            = 0x1020
	TagCompleted            = 0x1021
	TagFailed               = 0x1022
	TagWarning              = 0x1023
	TagMoveOriginatorAE     = 0x1030
	TagMoveOriginatorID     = 0x1031
)

// noDataSet is CommandDataSetType's value for "no data set follows".
const noDataSet = 0x0101

// maxCommandBytes bounds a command set: a few UIDs and numbers.
const maxCommandBytes = 64 << 10

// Command is a decoded command set: raw values by element number of group
// 0000 (implicit VR little endian).
type Command map[uint16][]byte

// parseCommand decodes a command set, refusing any element outside group
// 0000 and lengths past the end.
func parseCommand(b []byte) (Command, error) {
	c := Command{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("command set ends inside an element header")
		}
		group, elem := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
		n := binary.LittleEndian.Uint32(b[4:])
		if group != 0 {
			return nil, fmt.Errorf("command set holds element (%04X,%04X) outside group 0000", group, elem)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("command element (0000,%04X) declares %d bytes, %d remain", elem, n, len(b)-8)
		}
		c[elem] = b[8 : 8+n]
		b = b[8+n:]
	}
	return c, nil
}

// U16 returns an US value.
func (c Command) U16(tag uint16) (uint16, bool) {
	v, ok := c[tag]
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(v), true
}

// String returns a UI, AE or LO value without padding.
func (c Command) String(tag uint16) string {
	return strings.TrimRight(string(c[tag]), " \x00")
}

// HasDataSet reports whether a data set follows the command.
func (c Command) HasDataSet() bool {
	v, ok := c.U16(TagDataSetType)
	return ok && v != noDataSet
}

// SetU16 sets an US value.
func (c Command) SetU16(tag, v uint16) {
	c[tag] = binary.LittleEndian.AppendUint16(nil, v)
}

// SetString sets a text value, padded to even length (NUL for UIDs).
func (c Command) SetString(tag uint16, s string) {
	b := []byte(s)
	if len(b)%2 == 1 {
		pad := byte(' ')
		if isUIDTag(tag) {
			pad = 0
		}
		b = append(b, pad)
	}
	c[tag] = b
}

func isUIDTag(tag uint16) bool {
	switch tag {
	case TagAffectedSOPClassUID, TagAffectedSOPInstance, TagRequestedSOPClassUID, TagRequestedSOPInstance:
		return true
	}
	return false
}

// encode writes the command set with its group length, elements in order.
func (c Command) encode() []byte {
	tags := make([]int, 0, len(c))
	for t := range c {
		if t != tagGroupLength {
			tags = append(tags, int(t))
		}
	}
	sort.Ints(tags)
	var body []byte
	for _, t := range tags {
		v := c[uint16(t)]
		body = binary.LittleEndian.AppendUint16(body, 0)
		body = binary.LittleEndian.AppendUint16(body, uint16(t))
		body = binary.LittleEndian.AppendUint32(body, uint32(len(v)))
		body = append(body, v...)
	}
	out := make([]byte, 0, 12+len(body))
	out = append(out, 0, 0, 0, 0, 4, 0, 0, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...)
}

// Response builds the response command to rq with a status.
func Response(rq Command, status uint16, comment string) Command {
	field, _ := rq.U16(TagCommandField)
	id, _ := rq.U16(TagMessageID)
	r := Command{}
	r.SetU16(TagCommandField, field|0x8000)
	r.SetU16(TagMessageIDRespondedTo, id)
	r.SetU16(TagDataSetType, noDataSet)
	r.SetU16(TagStatus, status)
	if s := rq.String(TagAffectedSOPClassUID); s != "" {
		r.SetString(TagAffectedSOPClassUID, s)
	}
	if s := rq.String(TagAffectedSOPInstance); s != "" {
		r.SetString(TagAffectedSOPInstance, s)
	}
	if comment != "" {
		if len(comment) > 64 { // LO holds 64 characters
			comment = comment[:64]
		}
		r.SetString(TagErrorComment, comment)
	}
	return r
}
