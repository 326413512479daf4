package serve_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retain/datasets"
	"retain/serve"
)

func openStore(t *testing.T, path string, opts *serve.StoreOptions) *serve.Store {
	t.Helper()
	s, err := serve.OpenStore(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func eventIDs(h *serve.History) (att, tx []string) {
	for _, a := range h.Attendance {
		att = append(att, a.EventID)
	}
	for _, x := range h.Transactions {
		tx = append(tx, x.EventID)
	}
	return att, tx
}

// TestStoreHistory checks that a history is the member's events only,
// sorted by time whatever the order of arrival, for two members whose ids
// share a prefix ("a" and "ab": without the length prefix of the keys, the
// range of "a" would hold the events of "ab").
func TestStoreHistory(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"), nil)
	defer s.Close()
	joined := day(2024, 1, 1, 0, 0)
	b := &serve.Batch{
		Members: []datasets.Member{member("a", joined), member("ab", joined)},
		Attendance: []datasets.Attendance{
			visit("e3", "a", day(2025, 3, 1, 0, 0), ""),
			visit("f1", "ab", day(2025, 1, 15, 0, 0), ""),
			visit("e1", "a", day(2025, 1, 1, 0, 0), ""),
			visit("e2", "a", day(2025, 2, 1, 0, 0), ""),
			visit("e0", "a", day(2025, 2, 1, 0, 0), ""), // same instant as e2: ties by event_id
		},
		Transactions: []datasets.Transaction{
			{EventID: "t2", MemberID: "a", TS: day(2025, 2, 1, 0, 0), Amount: 100, Kind: datasets.TxRetail},
			{EventID: "t1", MemberID: "a", TS: day(2024, 12, 1, 0, 0), Amount: -100, Kind: datasets.TxRefund},
		},
	}
	res, err := s.AppendEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (serve.AppendResult{Members: 2, Attendance: 5, Transactions: 2}); res != want {
		t.Errorf("AppendEvents = %+v, want %+v", res, want)
	}
	h, err := s.History("a")
	if err != nil {
		t.Fatal(err)
	}
	att, tx := eventIDs(h)
	if fmt.Sprint(att) != "[e1 e0 e2 e3]" || fmt.Sprint(tx) != "[t1 t2]" {
		t.Errorf("history of a: attendance %v transactions %v, want [e1 e0 e2 e3] [t1 t2]", att, tx)
	}
	if h.Member.MemberID != "a" || !h.Member.JoinedAt.Equal(joined) || h.Transactions[0].Amount != -100 {
		t.Errorf("history of a: %+v", h)
	}
	h, err = s.HistoryBefore("a", day(2025, 2, 1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if att, tx := eventIDs(h); fmt.Sprint(att) != "[e1]" || fmt.Sprint(tx) != "[t1]" {
		t.Errorf("history of a before 1 Feb: %v %v, want [e1] [t1]", att, tx)
	}
	h, err = s.History("ab")
	if err != nil {
		t.Fatal(err)
	}
	if att, _ := eventIDs(h); fmt.Sprint(att) != "[f1]" {
		t.Errorf("history of ab: %v, want [f1]", att)
	}
	if _, err := s.History("b"); !errors.Is(err, serve.ErrNotFound) {
		t.Errorf("History of an unknown member: %v, want ErrNotFound", err)
	}

	ids, err := s.MemberIDs("", 1)
	if err != nil || fmt.Sprint(ids) != "[a]" {
		t.Errorf("MemberIDs(\"\", 1) = %v, %v", ids, err)
	}
	ids, err = s.MemberIDs("a", 10)
	if err != nil || fmt.Sprint(ids) != "[ab]" {
		t.Errorf("MemberIDs(a, 10) = %v, %v", ids, err)
	}

	// A batch with a bad reference stores nothing, not even its members.
	_, err = s.AppendEvents(&serve.Batch{
		Members:    []datasets.Member{member("c", joined)},
		Attendance: []datasets.Attendance{visit("g1", "c", day(2025, 1, 1, 0, 0), ""), visit("g2", "zz", day(2025, 1, 1, 0, 0), "")},
	})
	var re *serve.RefError
	if !errors.As(err, &re) || re.Field != "attendance[1].member_id" || !errors.Is(err, datasets.ErrUnknownMember) {
		t.Errorf("unknown member: %v, want a RefError on attendance[1].member_id", err)
	}
	if ok, _ := s.HasMember("c"); ok {
		t.Error("member c of a rejected batch was stored")
	}
}

func TestStoreReopenAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, nil)
	if _, err := s.AppendEvents(fixture()); err != nil {
		t.Fatal(err)
	}
	// One writer at a time.
	if s2, err := serve.OpenStore(path, &serve.StoreOptions{LockTimeout: 100 * time.Millisecond}); err == nil {
		s2.Close()
		t.Error("a second OpenStore of an open store succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openStore(t, path, &serve.StoreOptions{ReadOnly: true})
	defer ro.Close()
	h, err := ro.History("m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Attendance) != 5 || len(h.Transactions) != 2 {
		t.Errorf("after reopen: %d visits, %d transactions; want 5 and 2", len(h.Attendance), len(h.Transactions))
	}
	st, err := ro.Stats()
	if err != nil || st != (serve.StoreStats{Members: 3, Courses: 3, Events: 8}) {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	if _, err := ro.AppendEvents(fixture()); err == nil {
		t.Error("AppendEvents on a read-only store succeeded")
	}

	// A file that is not a store.
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, []byte(strings.Repeat("x", 8192)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := serve.OpenStore(bad, nil); err == nil {
		s.Close()
		t.Error("OpenStore of garbage succeeded")
	}
}

// writeDataset writes the fixture as a CSV dataset directory, plus one
// attendance row of an unknown member (row 7 of attendance.csv).
func writeDataset(t *testing.T) string {
	dir := t.TempDir()
	b := fixture()
	att := append(b.Attendance, visit("bad", "ghost", day(2025, 1, 1, 0, 0), ""))
	for _, err := range []error{
		datasets.WriteAll(filepath.Join(dir, "members.csv"), b.Members),
		datasets.WriteAll(filepath.Join(dir, "courses.csv"), b.Courses),
		datasets.WriteAll(filepath.Join(dir, "attendance.csv"), att),
		datasets.WriteAll(filepath.Join(dir, "transactions.csv"), b.Transactions),
		datasets.WriteManifest(dir, datasets.Manifest{Version: 1, Currency: "EUR", MinorUnits: 2, Source: "fixture"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStoreLoad(t *testing.T) {
	dir := writeDataset(t)
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"), nil)
	defer s.Close()

	// Without a quarantine the bad row stops Load, after the batches before
	// it were committed.
	_, err := s.Load(dir, &serve.LoadOptions{BatchRows: 2})
	var re *datasets.RowError
	if !errors.As(err, &re) || re.Row != 7 || re.Column != "member_id" || !errors.Is(err, datasets.ErrUnknownMember) {
		t.Fatalf("Load with a bad row: %v, want a RowError on row 7, member_id", err)
	}

	qpath := filepath.Join(t.TempDir(), "quarantine.csv")
	q, err := datasets.NewQuarantine(qpath)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Load(dir, &serve.LoadOptions{BatchRows: 2, Quarantine: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// The first Load stored the first 6 attendance rows (batches of 2),
	// so they are duplicates now; the 2 transactions are new.
	want := serve.LoadReport{Members: 3, Courses: 3, Attendance: 0, Transactions: 2, Duplicates: 6, Rejected: 1}
	if *rep != want {
		t.Errorf("second Load: %+v, want %+v", *rep, want)
	}
	h, err := s.History("m1")
	if err != nil {
		t.Fatal(err)
	}
	if att, tx := eventIDs(h); fmt.Sprint(att) != "[a1 a2 a3 a4 a5]" || fmt.Sprint(tx) != "[t1 t2]" {
		t.Errorf("m1 after Load: %v %v", att, tx)
	}
	qb, err := os.ReadFile(qpath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(qb), "ghost") {
		t.Errorf("quarantine lacks the bad row:\n%s", qb)
	}
	m, ok, err := s.Manifest()
	if err != nil || !ok || m.Currency != "EUR" || m.Source != "fixture" {
		t.Errorf("Manifest = %+v, %v, %v", m, ok, err)
	}
}

// TestCoursesCache reads courses (filling Store.Courses' cache), then
// replaces one and adds another with AppendEvents, and reloads one with
// Load's write path: each read after a write must see the write.
func TestCoursesCache(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"), nil)
	put := func(cs ...datasets.Course) {
		t.Helper()
		if _, err := s.AppendEvents(&serve.Batch{Courses: cs}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(ids ...string) map[string]datasets.Course {
		t.Helper()
		m, err := s.Courses(ids)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	put(datasets.Course{CourseID: "C1", Name: "Yoga", Club: "north"}, datasets.Course{CourseID: "C2", Name: "Spin", Club: "north"})
	for range 2 { // the second read comes from the cache
		if m := get("C1", "C2", "C9"); len(m) != 2 || m["C1"].Name != "Yoga" || m["C2"].Name != "Spin" {
			t.Fatalf("courses %v", m)
		}
	}
	put(datasets.Course{CourseID: "C1", Name: "Hot yoga", Club: "south"}, datasets.Course{CourseID: "C9", Name: "Row", Club: "north"})
	if m := get("C1", "C2", "C9"); len(m) != 3 || m["C1"].Name != "Hot yoga" || m["C1"].Club != "south" || m["C9"].Name != "Row" {
		t.Fatalf("after the update: courses %v", m)
	}
	// Events alone leave the courses (and the cache) as they are.
	if _, err := s.AppendEvents(&serve.Batch{}); err != nil {
		t.Fatal(err)
	}
	if m := get("C1"); m["C1"].Name != "Hot yoga" {
		t.Fatalf("after an empty batch: courses %v", m)
	}
}

// TestCoursesCacheConcurrent reads a course in two goroutines while it is
// rewritten 50 times: once the writes are done, a read must return the
// last version. It is mostly a test for the race detector (go test
// -race): the interleaving in which a read that overlapped a write would
// leave its older version in the cache (what Store.cgen prevents) is
// rare here, and a run without the cgen check usually passes too.
func TestCoursesCacheConcurrent(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"), nil)
	put := func(v int) {
		if _, err := s.AppendEvents(&serve.Batch{Courses: []datasets.Course{{CourseID: "C1", Name: fmt.Sprint(v)}}}); err != nil {
			t.Error(err)
		}
	}
	put(0)
	done := make(chan struct{})
	errc := make(chan error, 2)
	for range 2 {
		go func() {
			for {
				select {
				case <-done:
					errc <- nil
					return
				default:
				}
				if _, err := s.Courses([]string{"C1"}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for v := 1; v <= 50; v++ {
		put(v)
	}
	close(done)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Courses([]string{"C1"})
	if err != nil {
		t.Fatal(err)
	}
	if m["C1"].Name != "50" {
		t.Fatalf("course after the last write: %+v, want name 50", m["C1"])
	}
}
