package serve

// The member state lives in one bbolt file (go.etcd.io/bbolt, the embedded
// store of etcd): pure Go, a single file, ACID transactions, and every
// write transaction fsynced on commit, so an IngestEvents batch is on disk
// when the call returns. Reads run in parallel with the single writer from
// a consistent snapshot.
//
// Layout, format 1 (values are retain.v1 messages in protobuf wire format,
// so fields can be added as the API grows):
//
//	meta       "format" -> "1"; "manifest" -> the loaded dataset.json
//	members    member_id -> retain.v1.Member
//	courses    course_id -> retain.v1.Course
//	events     len(member_id) uint16 | member_id | seconds int64^1<<63 |
//	           nanos uint32 | kind (1 attendance, 2 transaction) |
//	           event_id -> retain.v1.Attendance or retain.v1.Transaction
//	event_ids  kind | event_id -> the key in events
//
// and the risk alerts' buckets risk_levels and alert_outbox, described in
// alerts_store.go (created when missing, not required when reading).
//
// All integers are big-endian, so a member's events are one contiguous key
// range sorted by timestamp: a history is one range scan. The length prefix
// keeps the range of member "a" apart from that of "a\x00b".

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"retain/datasets"
	retainv1 "retain/proto/retain/v1"
)

// MaxIDBytes is the longest member_id, course_id or event_id accepted, in
// bytes: datasets.MaxIDBytes, which datasets.Checker enforces on the files
// that Load reads.
const MaxIDBytes = datasets.MaxIDBytes

const storeFormat = "1"

var (
	bucketMeta     = []byte("meta")
	bucketMembers  = []byte("members")
	bucketCourses  = []byte("courses")
	bucketEvents   = []byte("events")
	bucketEventIDs = []byte("event_ids")
	allBuckets     = [][]byte{bucketMeta, bucketMembers, bucketCourses, bucketEvents, bucketEventIDs}
)

const (
	kindAttendance  byte = 1
	kindTransaction byte = 2
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: the member is not in the store.
	ErrNotFound = errors.New("serve: member not found")
	// ErrUnknownCourse: an event or a history names a course the store
	// does not hold.
	ErrUnknownCourse = errors.New("serve: unknown course_id")
	// ErrBadStore: the file is not a store of this format.
	ErrBadStore = errors.New("serve: not a retain store")
	// ErrEventConflict: an event's event_id is stored (or came earlier in
	// the batch) with other content. An event_id is the event's
	// idempotency key: a corrected event needs a new id.
	ErrEventConflict = errors.New("serve: event_id already stored with other content")
)

// RefError reports a record of a Batch that refers to something the store
// does not hold, or that breaks a rule between records. Field is the path
// of the field in the batch, as in IngestEventsRequest, e.g.
// "attendance[3].member_id". Err wraps datasets.ErrUnknownMember,
// datasets.ErrBeforeJoin or ErrUnknownCourse.
type RefError struct {
	Field string
	Value string
	Err   error
}

func (e *RefError) Error() string {
	return fmt.Sprintf("serve: %s: %s", e.Field, e.Description())
}

// Description is the error without the field: what is wrong, and the
// value.
func (e *RefError) Description() string {
	return fmt.Sprintf("%v (value %q)", strings.TrimPrefix(strings.TrimPrefix(e.Err.Error(), "serve: "), "datasets: "), e.Value)
}

func (e *RefError) Unwrap() error { return e.Err }

// Store is the server's member state: members, courses, and each member's
// attendance and transactions, in one bbolt file. It is safe for concurrent
// use; writes are serialized.
type Store struct {
	db *bolt.DB

	// A cache of Courses (every scoring call reads the courses it
	// suggests), emptied by every write of courses. cgen counts those
	// writes: a read that began before one does not fill the cache.
	cmu     sync.Mutex
	cgen    uint64
	courses map[string]datasets.Course
}

// StoreOptions tunes OpenStore. A nil *StoreOptions means defaults.
type StoreOptions struct {
	// LockTimeout is how long OpenStore waits while another process holds
	// the file. Default 1 second.
	LockTimeout time.Duration
	// ReadOnly opens an existing store for reading only; other readers
	// may share it. Default false.
	ReadOnly bool
}

// OpenStore opens the store file at path, creating it unless
// opts.ReadOnly. One process at a time may open a store for writing.
func OpenStore(path string, opts *StoreOptions) (*Store, error) {
	var o StoreOptions
	if opts != nil {
		o = *opts
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("serve: open store %s: %w", path, err)
	}
	s := &Store{db: db}
	if o.ReadOnly {
		err = db.View(func(tx *bolt.Tx) error { return checkFormat(tx) })
	} else {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range slices.Concat(allBuckets, alertBuckets) {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			if meta.Get([]byte("format")) == nil {
				return meta.Put([]byte("format"), []byte(storeFormat))
			}
			return checkFormat(tx)
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("serve: open store %s: %w", path, err)
	}
	return s, nil
}

func checkFormat(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: no bucket %q", ErrBadStore, name)
		}
	}
	if f := tx.Bucket(bucketMeta).Get([]byte("format")); string(f) != storeFormat {
		return fmt.Errorf("%w: format %q, want %q", ErrBadStore, f, storeFormat)
	}
	return nil
}

// Close closes the store file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("serve: close store: %w", err)
	}
	return nil
}

// Path returns the store's file name.
func (s *Store) Path() string { return s.db.Path() }

func memberPrefix(id string) []byte {
	k := make([]byte, 2+len(id), 2+len(id)+13+MaxIDBytes)
	binary.BigEndian.PutUint16(k, uint16(len(id)))
	copy(k[2:], id)
	return k
}

// appendTime appends t as 12 bytes that sort as t does.
func appendTime(k []byte, t time.Time) []byte {
	k = binary.BigEndian.AppendUint64(k, uint64(t.Unix())^1<<63)
	return binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
}

func eventKey(memberID string, t time.Time, kind byte, eventID string) []byte {
	k := appendTime(memberPrefix(memberID), t)
	k = append(k, kind)
	return append(k, eventID...)
}

func idKey(kind byte, eventID string) []byte {
	return append([]byte{kind}, eventID...)
}

func checkID(field, id string) error {
	if id == "" || len(id) > MaxIDBytes || !utf8.ValidString(id) {
		return fmt.Errorf("serve: %s %q: want 1 to %d bytes of UTF-8", field, id, MaxIDBytes)
	}
	return nil
}

var marshal = proto.MarshalOptions{Deterministic: true}

func putMsg(b *bolt.Bucket, k []byte, m proto.Message) error {
	v, err := marshal.Marshal(m)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

func getMember(tx *bolt.Tx, id string) (datasets.Member, bool, error) {
	v := tx.Bucket(bucketMembers).Get([]byte(id))
	if v == nil {
		return datasets.Member{}, false, nil
	}
	var m retainv1.Member
	if err := proto.Unmarshal(v, &m); err != nil {
		return datasets.Member{}, false, fmt.Errorf("serve: store: decode member %q: %w", id, err)
	}
	return memberFromPB(&m), true, nil
}

// Batch is a set of records to add to a Store in one transaction.
type Batch struct {
	Members      []datasets.Member // added, or replaced by member_id
	Courses      []datasets.Course // added, or replaced by course_id
	Attendance   []datasets.Attendance
	Transactions []datasets.Transaction
}

// AppendResult counts what AppendEvents did.
type AppendResult struct {
	Members, Courses int // added or replaced
	Attendance       int // attendance events stored
	Transactions     int // transactions stored
	Duplicates       int // events not stored: their event_id was stored already, with the same content
	// Conflicts counts the events not stored because their event_id was
	// stored with other content (Load only: AppendEvents fails instead),
	// and FirstConflict names the first ("attendance event_id \"x\"").
	Conflicts     int
	FirstConflict string
}

// AppendEvents adds b to the store in one write transaction, which is
// committed and fsynced before AppendEvents returns: either all of b is
// durable, or (on error) none of it.
//
// Members and courses are put first, so events may refer to members and
// courses of the same batch. An event whose event_id the store holds
// already (in the same table), or which came earlier in b, with the same
// content, is a duplicate: counted, not stored; with other content it is
// a *RefError wrapping ErrEventConflict. Each event must name a member of the store, at or
// after the member's join day (midnight UTC), and a course of the store or
// none, else AppendEvents stores nothing and returns a *RefError. The
// fields themselves are not checked here beyond what the keys need
// (validation is the server's job).
func (s *Store) AppendEvents(b *Batch) (AppendResult, error) {
	var res AppendResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = AppendResult{}
		return appendTx(tx, b, &res, true)
	})
	if len(b.Courses) > 0 {
		s.coursesWritten()
	}
	if err != nil {
		var re *RefError
		if errors.As(err, &re) {
			return AppendResult{}, err
		}
		return AppendResult{}, fmt.Errorf("serve: append events: %w", err)
	}
	return res, nil
}

// appendTx puts b in tx. With checkRefs false the caller has checked the
// references (Load, through datasets.Checker), and an event in conflict
// with a stored one is counted in res instead of failing the batch.
func appendTx(tx *bolt.Tx, b *Batch, res *AppendResult, checkRefs bool) error {
	members, courses := tx.Bucket(bucketMembers), tx.Bucket(bucketCourses)
	events, ids := tx.Bucket(bucketEvents), tx.Bucket(bucketEventIDs)
	for i := range b.Members {
		m := &b.Members[i]
		if err := checkID(fmt.Sprintf("members[%d].member_id", i), m.MemberID); err != nil {
			return err
		}
		if err := putMsg(members, []byte(m.MemberID), memberToPB(m)); err != nil {
			return err
		}
		res.Members++
	}
	for i := range b.Courses {
		c := &b.Courses[i]
		if err := checkID(fmt.Sprintf("courses[%d].course_id", i), c.CourseID); err != nil {
			return err
		}
		if err := putMsg(courses, []byte(c.CourseID), courseToPB(c)); err != nil {
			return err
		}
		res.Courses++
	}

	// joinDay caches the members' join days for the reference checks.
	joinDay := make(map[string]time.Time)
	checkMember := func(field, id string, t time.Time) error {
		jd, ok := joinDay[id]
		if !ok {
			m, found, err := getMember(tx, id)
			if err != nil {
				return err
			}
			if !found {
				return &RefError{Field: field + ".member_id", Value: id, Err: datasets.ErrUnknownMember}
			}
			jd = datasets.Date(m.JoinedAt)
			joinDay[id] = jd
		}
		if t.Before(jd) {
			return &RefError{Field: field + ".ts", Value: t.UTC().Format(time.RFC3339Nano),
				Err: fmt.Errorf("%w %s", datasets.ErrBeforeJoin, jd.Format(time.DateOnly))}
		}
		return nil
	}
	put := func(field string, kind byte, eventID, memberID string, t time.Time, msg proto.Message) (bool, error) {
		if err := checkID(field+".event_id", eventID); err != nil {
			return false, err
		}
		if err := checkID(field+".member_id", memberID); err != nil {
			return false, err
		}
		ik := idKey(kind, eventID)
		ek := eventKey(memberID, t, kind, eventID)
		v, err := marshal.Marshal(msg)
		if err != nil {
			return false, err
		}
		if old := ids.Get(ik); old != nil {
			// The member, time and id are the event's key; the rest is
			// its stored message (deterministic marshalling).
			if bytes.Equal(old, ek) && bytes.Equal(events.Get(old), v) {
				res.Duplicates++
				return false, nil
			}
			if checkRefs {
				return false, &RefError{Field: field + ".event_id", Value: eventID, Err: ErrEventConflict}
			}
			if res.Conflicts == 0 {
				name := "attendance"
				if kind == kindTransaction {
					name = "transaction"
				}
				res.FirstConflict = fmt.Sprintf("%s event_id %q", name, eventID)
			}
			res.Conflicts++
			return false, nil
		}
		if err := events.Put(ek, v); err != nil {
			return false, err
		}
		return true, ids.Put(ik, ek)
	}
	for i := range b.Attendance {
		a := &b.Attendance[i]
		field := fmt.Sprintf("attendance[%d]", i)
		if checkRefs {
			if err := checkMember(field, a.MemberID, a.TS); err != nil {
				return err
			}
			if a.CourseID != "" && courses.Get([]byte(a.CourseID)) == nil {
				return &RefError{Field: field + ".course_id", Value: a.CourseID, Err: ErrUnknownCourse}
			}
		}
		ok, err := put(field, kindAttendance, a.EventID, a.MemberID, a.TS, attendanceToPB(a))
		if err != nil {
			return err
		}
		if ok {
			res.Attendance++
		}
	}
	for i := range b.Transactions {
		t := &b.Transactions[i]
		field := fmt.Sprintf("transactions[%d]", i)
		if checkRefs {
			if err := checkMember(field, t.MemberID, t.TS); err != nil {
				return err
			}
		}
		ok, err := put(field, kindTransaction, t.EventID, t.MemberID, t.TS, transactionToPB(t))
		if err != nil {
			return err
		}
		if ok {
			res.Transactions++
		}
	}
	return nil
}

// History returns the member's record and all the member's events, each
// table sorted by timestamp (ties by event_id). An unknown member is an
// error wrapping ErrNotFound.
func (s *Store) History(memberID string) (*History, error) {
	return s.HistoryBefore(memberID, time.Time{})
}

// HistoryBefore is History without the events at or after before; the
// zero time keeps every event. The scan stops at before.
func (s *Store) HistoryBefore(memberID string, before time.Time) (*History, error) {
	h := new(History)
	err := s.db.View(func(tx *bolt.Tx) error {
		m, found, err := getMember(tx, memberID)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("serve: member %q: %w", memberID, ErrNotFound)
		}
		h.Member = m
		prefix := memberPrefix(memberID)
		var end []byte
		if !before.IsZero() {
			end = appendTime(slices.Clone(prefix), before)
		}
		d := eventDecoder{memberID: m.MemberID}
		defer d.finish(h)
		c := tx.Bucket(bucketEvents).Cursor()
		// A first pass over the keys counts the events, so that the
		// slices are allocated once at their size: growing them by
		// doubling made about twice their size in garbage.
		var na, nt, idBytes int
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if end != nil && bytes.Compare(k, end) >= 0 || len(k) < len(prefix)+13 {
				break
			}
			switch k[len(prefix)+12] {
			case kindAttendance:
				na++
			case kindTransaction:
				nt++
			}
			idBytes += len(k) - (len(prefix) + 13) // the key ends in the event id
		}
		if na > 0 {
			h.Attendance = make([]datasets.Attendance, 0, na)
			d.att = make([]idSpan, 0, na)
		}
		if nt > 0 {
			h.Transactions = make([]datasets.Transaction, 0, nt)
			d.tx = make([]idSpan, 0, nt)
		}
		d.ids = make([]byte, 0, idBytes)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if end != nil && bytes.Compare(k, end) >= 0 {
				break
			}
			if len(k) < len(prefix)+13 {
				return fmt.Errorf("%w: short event key %x of %q", ErrBadStore, k, memberID)
			}
			switch k[len(prefix)+12] {
			case kindAttendance:
				if err := d.attendance(v, h); err != nil {
					return fmt.Errorf("serve: store: decode attendance of %q: %w", memberID, err)
				}
			case kindTransaction:
				if err := d.transaction(v, h); err != nil {
					return fmt.Errorf("serve: store: decode transaction of %q: %w", memberID, err)
				}
			default:
				return fmt.Errorf("%w: event key %x of %q has kind %d", ErrBadStore, k, memberID, k[len(prefix)+12])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// HasMember reports whether the store holds the member.
func (s *Store) HasMember(id string) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketMembers).Get([]byte(id)) != nil
		return nil
	})
	return ok, err
}

// MemberIDs returns up to limit member ids after the id after (all ids
// from the first when after is ""), in byte order.
func (s *Store) MemberIDs(after string, limit int) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMembers).Cursor()
		k, _ := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, _ = c.Next()
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			out = append(out, string(k))
		}
		return nil
	})
	return out, err
}

// Courses returns the courses of the store among ids, by id; ids the store
// does not hold are absent from the map.
func (s *Store) Courses(ids []string) (map[string]datasets.Course, error) {
	out := make(map[string]datasets.Course, len(ids))
	s.cmu.Lock()
	gen := s.cgen
	missed := false // ids may repeat a course: count the misses, not the hits
	for _, id := range ids {
		if c, ok := s.courses[id]; ok {
			out[id] = c
		} else {
			missed = true
		}
	}
	s.cmu.Unlock()
	if !missed {
		return out, nil
	}
	read := map[string]datasets.Course{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCourses)
		for _, id := range ids {
			if _, done := out[id]; done {
				continue
			}
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			var c retainv1.Course
			if err := proto.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("serve: store: decode course %q: %w", id, err)
			}
			out[id] = courseFromPB(&c)
			read[id] = out[id]
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	s.cmu.Lock()
	if s.cgen == gen { // no write of courses since the read began
		if s.courses == nil {
			s.courses = map[string]datasets.Course{}
		}
		maps.Copy(s.courses, read)
	}
	s.cmu.Unlock()
	return out, nil
}

// coursesWritten empties the cache of Courses after a write transaction
// that put courses has ended.
func (s *Store) coursesWritten() {
	s.cmu.Lock()
	s.cgen++
	s.courses = nil
	s.cmu.Unlock()
}

// StoreStats counts the records of a Store.
type StoreStats struct {
	Members, Courses, Events int
}

// Stats counts the records of the store. It walks the tree pages, which
// takes time proportional to the store's size.
func (s *Store) Stats() (StoreStats, error) {
	var st StoreStats
	err := s.db.View(func(tx *bolt.Tx) error {
		st.Members = tx.Bucket(bucketMembers).Stats().KeyN
		st.Courses = tx.Bucket(bucketCourses).Stats().KeyN
		st.Events = tx.Bucket(bucketEvents).Stats().KeyN
		return nil
	})
	return st, err
}

// Manifest returns the manifest of the dataset last loaded, and false when
// none was.
func (s *Store) Manifest() (datasets.Manifest, bool, error) {
	var m datasets.Manifest
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get([]byte("manifest"))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &m)
	})
	if err != nil {
		return datasets.Manifest{}, false, fmt.Errorf("serve: store manifest: %w", err)
	}
	return m, ok, nil
}

// LoadOptions tunes Store.Load. A nil *LoadOptions means defaults.
type LoadOptions struct {
	// BatchRows is the number of rows per write transaction. Default
	// 10,000.
	BatchRows int
	// Quarantine receives the rows that fail datasets.Checker; nil makes
	// the first bad row end Load with its *datasets.RowError. Default nil.
	Quarantine *datasets.Quarantine
	// Check sets the Checker's limits. Default nil (its defaults).
	Check *datasets.CheckOptions
	// Read tunes the table readers. Default nil (their defaults).
	Read *datasets.ReadOptions
}

// LoadReport counts what Load did.
type LoadReport struct {
	Members, Courses         int64 // added or replaced
	Attendance, Transactions int64 // events stored
	Duplicates               int64 // events whose event_id the store held, with the same content
	// Conflicts counts the events whose event_id the store held with
	// other content: not stored (the stored event stays), and
	// FirstConflict names the first. Load does not fail for them; its
	// caller should (retain load does).
	Conflicts     int64
	FirstConflict string
	Rejected      int64 // rows sent to the quarantine
}

// Load adds the canonical dataset in directory dir (datasets.OpenDir) to
// the store, streaming each table in write transactions of
// opts.BatchRows rows. Every row is checked by one datasets.Checker, in the
// order members, courses, attendance, transactions, so a dataset directory
// must be self-contained: its events name its own members and courses.
//
// Load is idempotent but not atomic: members and courses are replaced,
// events already stored are counted as duplicates (or, with other
// content under the same event_id, as conflicts), and on error the
// batches committed before stay, so loading the same directory again
// completes it.
func (s *Store) Load(dir string, opts *LoadOptions) (*LoadReport, error) {
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 10_000
	}
	d, err := datasets.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: load: %w", err)
	}
	l := &loader{s: s, d: d, o: o, chk: datasets.NewChecker(o.Check), rep: new(LoadReport)}
	if err := loadTable(l, l.chk.Member, func(b *Batch, r []datasets.Member) { b.Members = r }); err != nil {
		return l.rep, err
	}
	if err := loadTable(l, l.chk.Course, func(b *Batch, r []datasets.Course) { b.Courses = r }); err != nil {
		return l.rep, err
	}
	if err := loadTable(l, l.chk.Attendance, func(b *Batch, r []datasets.Attendance) { b.Attendance = r }); err != nil {
		return l.rep, err
	}
	if err := loadTable(l, l.chk.Transaction, func(b *Batch, r []datasets.Transaction) { b.Transactions = r }); err != nil {
		return l.rep, err
	}
	man, err := json.Marshal(d.Manifest())
	if err != nil {
		return l.rep, fmt.Errorf("serve: load: manifest: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("manifest"), man) })
	if err != nil {
		return l.rep, fmt.Errorf("serve: load: manifest: %w", err)
	}
	return l.rep, nil
}

type loader struct {
	s   *Store
	d   *datasets.Dir
	o   LoadOptions
	chk *datasets.Checker
	rep *LoadReport
}

// loadTable streams one table of l.d through check into the store
// (datasets.CheckTable); set puts the good rows of a batch into a Batch.
func loadTable[T datasets.Record](l *loader, check func(file string, row int64, r *T) error, set func(*Batch, []T)) error {
	table := datasets.TableOf[T]()
	if _, err := l.d.Path(table); errors.Is(err, datasets.ErrTableNotFound) && (table == datasets.TableCourses || table == datasets.TableTransactions) {
		return nil
	}
	var quarantineErr error
	reject := func(re *datasets.RowError) error {
		if l.o.Quarantine == nil {
			return re
		}
		l.rep.Rejected++
		if err := l.o.Quarantine.Add(re); err != nil {
			quarantineErr = err
			return err
		}
		return nil
	}
	_, err := datasets.CheckTable(l.d, l.o.Read, l.o.BatchRows, check, reject, func(good []T) error {
		return putRows(l, good, set)
	})
	switch {
	case err == nil:
		return nil
	case quarantineErr != nil:
		return fmt.Errorf("serve: load %s: quarantine: %w", table, err)
	}
	return fmt.Errorf("serve: load %s: %w", table, err)
}

// putRows stores rows, checked already, in one write transaction.
func putRows[T datasets.Record](l *loader, rows []T, set func(*Batch, []T)) error {
	var b Batch
	set(&b, rows)
	var res AppendResult
	err := l.s.db.Update(func(tx *bolt.Tx) error {
		res = AppendResult{}
		return appendTx(tx, &b, &res, false)
	})
	if len(b.Courses) > 0 {
		l.s.coursesWritten()
	}
	if err != nil {
		return err
	}
	l.rep.Members += int64(res.Members)
	l.rep.Courses += int64(res.Courses)
	l.rep.Attendance += int64(res.Attendance)
	l.rep.Transactions += int64(res.Transactions)
	l.rep.Duplicates += int64(res.Duplicates)
	if l.rep.Conflicts == 0 {
		l.rep.FirstConflict = res.FirstConflict
	}
	l.rep.Conflicts += int64(res.Conflicts)
	return nil
}
