package serve

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

// The events of a history are decoded straight from the protobuf wire
// format into datasets records, without a retain.v1 message and a
// timestamppb.Timestamp per event: a store read of ~100 events otherwise
// makes ~3 allocations per event for the messages alone, and the garbage
// is part of the serving tail. The result equals proto.Unmarshal into
// retain.v1.Attendance (Transaction) and attendanceFromPB
// (transactionFromPB) for every input, and it fails where proto.Unmarshal
// fails (FuzzDecodeEvent holds both).
//
// The strings are shared: a member_id equal to the member's is the
// member's string, course ids are interned for the read, and the event
// ids of one read are slices of a single string built at the end
// (eventDecoder.finish).

// eventDecoder decodes the events of one store read.
type eventDecoder struct {
	memberID string
	courses  []string // interned course ids (a member attends a few)
	ids      []byte   // the event ids of the read, back to back
	// pending: the records whose EventID is still the span [lo, hi) of
	// ids, set by finish.
	att []idSpan
	tx  []idSpan
}

type idSpan struct{ lo, hi int32 }

var errEventWire = errors.New("invalid wire format")

// wireString consumes a length-delimited string value, which proto3
// requires to be UTF-8.
func wireString(b []byte) ([]byte, int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, protowire.ParseError(n)
	}
	if !utf8.Valid(v) {
		return nil, 0, fmt.Errorf("%w: string field is not UTF-8", errEventWire)
	}
	return v, n, nil
}

// consumeTag is protowire.ConsumeTag, which also refuses field numbers
// above protowire.MaxValidNumber, as proto.Unmarshal does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1 // reported as a generic parse error
	}
	return num, typ, n
}

// timestamp merges the google.protobuf.Timestamp message b into sec and
// nanos, as proto.Unmarshal merges a repeated message field.
func timestamp(b []byte, sec *int64, nanos *int32) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			*sec, b = int64(v), b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			*nanos, b = int32(v), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}

// event is the union of the fields of retain.v1.Attendance and
// retain.v1.Transaction: fields 1 to 3 are common, 4 and 5 are
// course_id (string) and duration_min (int32), or amount (int64) and kind
// (enum), with source (enum) at 6 for attendance.
type event struct {
	eventID, memberID, courseID []byte
	hasTS                       bool
	sec                         int64
	nanos                       int32
	v4, v5, v6                  uint64 // varints
}

// decode parses one event message; attendance says which of the two.
func (e *event) decode(b []byte, attendance bool) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var err error
		switch {
		case num == 1 && typ == protowire.BytesType:
			e.eventID, n, err = wireString(b)
		case num == 2 && typ == protowire.BytesType:
			e.memberID, n, err = wireString(b)
		case num == 3 && typ == protowire.BytesType:
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				e.hasTS = true
				err = timestamp(v, &e.sec, &e.nanos)
			}
		case num == 4 && typ == protowire.BytesType && attendance:
			e.courseID, n, err = wireString(b)
		case (num == 4 && !attendance || num == 5 || num == 6 && attendance) && typ == protowire.VarintType:
			var v uint64
			if v, n = protowire.ConsumeVarint(b); n >= 0 {
				switch num {
				case 4:
					e.v4 = v
				case 5:
					e.v5 = v
				default:
					e.v6 = v
				}
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if err != nil {
			return err
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

func (e *event) ts() time.Time {
	if !e.hasTS {
		return time.Time{}
	}
	return time.Unix(e.sec, int64(e.nanos)).UTC()
}

// member returns b as a string: the member's id, without allocating,
// when it is that.
func (d *eventDecoder) member(b []byte) string {
	if string(b) == d.memberID {
		return d.memberID
	}
	return string(b)
}

// maxInterned is the most course ids a read interns; a member's history
// rarely has more distinct courses, and a linear search of a few is
// cheaper than a map.
const maxInterned = 32

// course returns b as a string, interned for the read.
func (d *eventDecoder) course(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range d.courses {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(d.courses) < maxInterned {
		d.courses = append(d.courses, s)
	}
	return s
}

// id appends the event id b to the ids of the read.
func (d *eventDecoder) id(b []byte) idSpan {
	lo := len(d.ids)
	d.ids = append(d.ids, b...)
	return idSpan{int32(lo), int32(len(d.ids))}
}

// attendance decodes a retain.v1.Attendance into h.Attendance.
func (d *eventDecoder) attendance(v []byte, h *History) error {
	var e event
	if err := e.decode(v, true); err != nil {
		return err
	}
	h.Attendance = append(h.Attendance, datasets.Attendance{
		MemberID:    d.member(e.memberID),
		TS:          e.ts(),
		CourseID:    d.course(e.courseID),
		DurationMin: int(int32(e.v5)),
		Source:      datasets.Source(retainv1.Source(int32(e.v6))),
	})
	d.att = append(d.att, d.id(e.eventID))
	return nil
}

// transaction decodes a retain.v1.Transaction into h.Transactions.
func (d *eventDecoder) transaction(v []byte, h *History) error {
	var e event
	if err := e.decode(v, false); err != nil {
		return err
	}
	h.Transactions = append(h.Transactions, datasets.Transaction{
		MemberID: d.member(e.memberID),
		TS:       e.ts(),
		Amount:   int64(e.v4),
		Kind:     datasets.TxKind(retainv1.TransactionKind(int32(e.v5))),
	})
	d.tx = append(d.tx, d.id(e.eventID))
	return nil
}

// finish sets the event ids of the records decoded into h, from one
// string.
func (d *eventDecoder) finish(h *History) {
	all := string(d.ids)
	for i, sp := range d.att {
		h.Attendance[i].EventID = all[sp.lo:sp.hi]
	}
	for i, sp := range d.tx {
		h.Transactions[i].EventID = all[sp.lo:sp.hi]
	}
}
