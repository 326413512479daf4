package serve

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

// decodeEventBoth decodes data as an attendance (or transaction) message
// with eventDecoder and with proto.Unmarshal and the FromPB conversion,
// and fails t unless both fail or both give the same record.
func decodeEventBoth(t *testing.T, data []byte, attendance bool) {
	t.Helper()
	d := eventDecoder{memberID: "M1"}
	var h History
	if attendance {
		var m retainv1.Attendance
		werr := proto.Unmarshal(data, &m)
		err := d.attendance(data, &h)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%x: decoder error %v, proto.Unmarshal %v", data, err, werr)
		}
		if err != nil {
			return
		}
		d.finish(&h)
		if want := attendanceFromPB(&m); h.Attendance[0] != want {
			t.Fatalf("%x: decoded %+v, proto.Unmarshal %+v", data, h.Attendance[0], want)
		}
		return
	}
	var m retainv1.Transaction
	werr := proto.Unmarshal(data, &m)
	err := d.transaction(data, &h)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%x: decoder error %v, proto.Unmarshal %v", data, err, werr)
	}
	if err != nil {
		return
	}
	d.finish(&h)
	if want := transactionFromPB(&m); h.Transactions[0] != want {
		t.Fatalf("%x: decoded %+v, proto.Unmarshal %+v", data, h.Transactions[0], want)
	}
}

// eventSeeds are wire messages of both kinds: well formed, with unknown
// fields, fields of the wrong wire type, a repeated timestamp, bad UTF-8,
// negative values and truncations.
func eventSeeds(t testing.TB) [][]byte {
	ts := time.Date(2025, 3, 4, 18, 30, 0, 123, time.UTC)
	var out [][]byte
	for _, m := range []proto.Message{
		attendanceToPB(&attendanceRec),
		transactionToPB(&transactionRec),
		&retainv1.Attendance{EventId: "e", MemberId: "M2", Ts: pbTime(ts), DurationMin: -3, Source: 200},
		&retainv1.Transaction{EventId: "t", MemberId: "M1", Amount: -1999, Kind: -1},
		&retainv1.Attendance{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		for _, cut := range []int{1, 3, len(b) / 2, len(b) - 1} {
			if cut > 0 && cut < len(b) {
				out = append(out, b[:cut])
			}
		}
		// An unknown field, a known field of the wrong wire type, a
		// second timestamp that sets only the nanoseconds, a group.
		x := protowire.AppendTag(append([]byte(nil), b...), 99, protowire.BytesType)
		x = protowire.AppendBytes(x, []byte("?"))
		x = protowire.AppendTag(x, 1, protowire.VarintType)
		x = protowire.AppendVarint(x, 7)
		x = protowire.AppendTag(x, 3, protowire.BytesType)
		x = protowire.AppendBytes(x, protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5))
		x = protowire.AppendTag(x, 12, protowire.StartGroupType)
		x = protowire.AppendTag(x, 12, protowire.EndGroupType)
		out = append(out, x)
		// Bad UTF-8 in event_id and in course_id.
		for _, f := range []protowire.Number{1, 4} {
			y := protowire.AppendTag(append([]byte(nil), b...), f, protowire.BytesType)
			out = append(out, protowire.AppendBytes(y, []byte{0xff, 'a'}))
		}
	}
	return out
}

var (
	attendanceRec  = attendanceFromPB(&retainv1.Attendance{EventId: "a1", MemberId: "M1", Ts: pbTime(time.Date(2025, 1, 2, 7, 0, 0, 0, time.UTC)), CourseId: "C7", DurationMin: 55, Source: 2})
	transactionRec = transactionFromPB(&retainv1.Transaction{EventId: "t1", MemberId: "M1", Ts: pbTime(time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)), Amount: 4900, Kind: 1})
)

func TestDecodeEventSeeds(t *testing.T) {
	for _, b := range eventSeeds(t) {
		decodeEventBoth(t, b, true)
		decodeEventBoth(t, b, false)
	}
}

// TestDecodeEventShares checks the sharing: a member_id equal to the
// member's is its string, and equal course ids are one string.
func TestDecodeEventShares(t *testing.T) {
	d := eventDecoder{memberID: "M1"}
	var h History
	b, err := proto.Marshal(attendanceToPB(&attendanceRec))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := d.attendance(b, &h); err != nil {
			t.Fatal(err)
		}
	}
	d.finish(&h)
	for i, a := range h.Attendance {
		if a != attendanceRec {
			t.Fatalf("event %d: %+v, want %+v", i, a, attendanceRec)
		}
	}
	// Decoding into slices with room, the decoder's course already
	// interned: the one string of the event ids is the only allocation.
	h.Attendance = make([]datasets.Attendance, 0, 3)
	if allocs := testing.AllocsPerRun(100, func() {
		h.Attendance, d.ids, d.att = h.Attendance[:0], d.ids[:0], d.att[:0]
		for range 3 {
			if err := d.attendance(b, &h); err != nil {
				t.Fatal(err)
			}
		}
		d.finish(&h)
	}); allocs != 1 {
		t.Errorf("%v allocations for 3 events into slices with room, want 1 (the event ids' string)", allocs)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, b := range eventSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeEventBoth(t, b, true)
		decodeEventBoth(t, b, false)
	})
}

// TestDecodeEventManyCourses decodes events of more distinct courses than
// the decoder interns (maxInterned), each twice: every record keeps its
// own course id.
func TestDecodeEventManyCourses(t *testing.T) {
	d := eventDecoder{memberID: "M1"}
	var h History
	const n = maxInterned + 8
	for k := range 2 * n {
		a := attendanceRec
		a.CourseID = fmt.Sprintf("C%02d", k%n)
		b, err := proto.Marshal(attendanceToPB(&a))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.attendance(b, &h); err != nil {
			t.Fatal(err)
		}
	}
	d.finish(&h)
	for k, a := range h.Attendance {
		if want := fmt.Sprintf("C%02d", k%n); a.CourseID != want || a.EventID != attendanceRec.EventID {
			t.Fatalf("event %d: course %q event %q, want %q %q", k, a.CourseID, a.EventID, want, attendanceRec.EventID)
		}
	}
}
