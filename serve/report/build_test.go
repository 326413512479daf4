package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"retain/datasets"
	"retain/datasets/synth"
	"retain/features"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// member returns a history: joined 2024-01-01, a visit every 7 days from
// 2024-01-02 up to lastVisit, a fee on the 1st of each month up to
// lastPay.
func member(id, club string, joined, lastVisit, lastPay time.Time) features.History {
	h := features.History{Member: datasets.Member{MemberID: id, JoinedAt: joined, HomeClub: club,
		ContractType: datasets.ContractMonthly, ContractStart: joined}}
	for t, k := joined.AddDate(0, 0, 1).Add(18*time.Hour), 0; !t.After(lastVisit); t, k = t.AddDate(0, 0, 7), k+1 {
		h.Attendance = append(h.Attendance, datasets.Attendance{EventID: fmt.Sprintf("%s-a%d", id, k), MemberID: id, TS: t,
			CourseID: "yoga-1", DurationMin: 60, Source: datasets.SourcePOS})
	}
	for t, k := joined, 0; !t.After(lastPay); t, k = t.AddDate(0, 1, 0), k+1 {
		h.Transactions = append(h.Transactions, datasets.Transaction{EventID: fmt.Sprintf("%s-t%d", id, k), MemberID: id, TS: t,
			Amount: 4900, Kind: datasets.TxMembershipFee})
	}
	return h
}

// gym: members of two clubs, as of 2025-04-01 (see TestBuild).
func gym() []features.History {
	j := day(2024, 1, 1)
	annual := member("m6", "north", j, day(2024, 3, 1), day(2024, 4, 15))
	annual.Member.ContractType = datasets.ContractAnnual
	annual.Member.ContractStart, annual.Member.ContractEnd = day(2024, 4, 15), day(2025, 4, 15)
	return []features.History{
		member("m1", "north", j, day(2025, 6, 30), day(2025, 6, 1)),               // regular, events after the as-of too
		member("m2", "north", j, day(2024, 6, 1), day(2024, 6, 1)),                // gone since June 2024
		member("m3", "south", j, day(2025, 6, 30), day(2025, 6, 1)),               // other club
		member("m4", "north", day(2025, 5, 1), day(2025, 6, 30), day(2025, 6, 1)), // joins after the as-of
		member("m5", "north", j, day(2024, 12, 1), day(2025, 3, 1)),               // absent since 1 December, still paying
		annual, // no activity for a year, contract to 2025-04-15
	}
}

func gymSpec(t *testing.T) *features.FeatureSpec {
	t.Helper()
	spec, err := features.NewSpec(features.DefaultConfig(),
		[]datasets.Course{{CourseID: "yoga-1", Name: "Yoga", Category: "yoga"}}, []string{"north", "south"})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// fakeScore gives each member a fixed probability and records a failure
// when a history holds an event at or after the as-of instant.
type fakeScore struct {
	mu   sync.Mutex
	errs []string
	p    map[string]float64
	fail string // member whose scoring fails
}

func (f *fakeScore) score(_ context.Context, h *features.History, asOf time.Time) (Scored, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range h.Attendance {
		if !a.TS.Before(asOf) {
			f.errs = append(f.errs, h.Member.MemberID+": attendance at "+a.TS.String())
		}
	}
	for _, x := range h.Transactions {
		if !x.TS.Before(asOf) {
			f.errs = append(f.errs, h.Member.MemberID+": transaction at "+x.TS.String())
		}
	}
	if h.Member.MemberID == f.fail {
		return Scored{}, errors.New("boom")
	}
	return Scored{ChurnProbability: f.p[h.Member.MemberID], Action: Action{Kind: "test"}}, nil
}

// batch is score for BuildFrom: the same probabilities and failure.
func (f *fakeScore) batch(_ context.Context, exs []*features.Example, out []Scored) error {
	for k, ex := range exs {
		if ex.MemberID == f.fail {
			return errors.New("boom")
		}
		out[k] = Scored{ChurnProbability: f.p[ex.MemberID], Action: Action{Kind: "test"}}
	}
	return nil
}

func newFake() *fakeScore {
	return &fakeScore{p: map[string]float64{"m1": 0.2, "m3": 0.5, "m5": 0.9, "m6": 0.7}}
}

func TestBuild(t *testing.T) {
	fs := newFake()
	o := Options{Club: "north", Month: "2025-03", DataEnd: day(2025, 7, 1), Spec: gymSpec(t), Risk: RiskThresholds{0.3, 0.6}, Workers: 3}
	in, err := Build(context.Background(), gym(), fs.score, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.errs) > 0 {
		t.Errorf("the scorer saw events at or after the as-of instant: %v", fs.errs)
	}
	// The as-of defaults to the start of the month after March.
	if !in.AsOf.Equal(day(2025, 4, 1)) || in.Month != "2025-03" {
		t.Errorf("as of %s, month %s; want 2025-04-01, 2025-03", in.AsOf, in.Month)
	}
	// On the books in north: m1 (visits), m5 (pays), m6 (contract runs);
	// m2 departed; m4 not joined; m3 is in south.
	var ids []string
	for _, m := range in.Members {
		ids = append(ids, m.ID)
	}
	if want := []string{"m1", "m5", "m6"}; !slices.Equal(ids, want) {
		t.Errorf("members %v, want %v", ids, want)
	}
	if in.Departed != 1 || in.NotJoined != 1 {
		t.Errorf("departed %d, not joined %d; want 1, 1", in.Departed, in.NotJoined)
	}
	m5 := in.Members[1]
	// Visits every 7 days from 2024-01-02: the last by 1 December is on 26
	// November; to 2025-04-01 that is 5 + 31+31+28+31 = 126 days.
	if m5.DaysAbsent != 126 || !slices.Contains(m5.Flags, "coach_callback_90d") || m5.ChurnProbability != 0.9 {
		t.Errorf("m5: %+v; want 126 days absent, coach_callback_90d, p 0.9", m5)
	}
	m6 := in.Members[2]
	// Contract ends 2025-04-15: 14 days after the as-of, stage 15d.
	if m6.DaysToContractEnd != 14 || m6.OpenEnded || !slices.Contains(m6.Flags, "renewal_reminder_15d") {
		t.Errorf("m6: %+v; want 14 days to contract end, renewal_reminder_15d", m6)
	}
	// KPIs: north only, up to March 2025.
	if len(in.Months) == 0 || in.Months[len(in.Months)-1].Month != "2025-03" {
		t.Fatalf("KPI months end with %v, want 2025-03", in.Months[len(in.Months)-1:])
	}
	for _, k := range in.Months {
		if k.Club != "north" {
			t.Errorf("KPI row of club %s", k.Club)
		}
	}
	// March 2025 in north: enrolled m1 (visits) and m5 (paid in the 8
	// weeks before); m6's last payment was in April 2024. Active: m1.
	mar := in.Months[len(in.Months)-1]
	if mar.Enrolled != 2 || mar.Active != 1 || !slices.Contains(mar.Flags, features.KPIActiveShareLow) {
		t.Errorf("March: enrolled %d, active %d, flags %v; want 2, 1, active_share_low", mar.Enrolled, mar.Active, mar.Flags)
	}
	if err := Render(&strings.Builder{}, in); err != nil {
		t.Fatal(err)
	}

	// All clubs; no month: as of the data's end, the month before it.
	o.Club, o.Month = "", ""
	o.DataEnd = day(2025, 4, 1)
	in, err = Build(context.Background(), gym(), newFake().score, o)
	if err != nil {
		t.Fatal(err)
	}
	ids = ids[:0]
	for _, m := range in.Members {
		ids = append(ids, m.ID)
	}
	if want := []string{"m1", "m3", "m5", "m6"}; !slices.Equal(ids, want) || in.Month != "2025-03" || in.Club != features.AllClubs {
		t.Errorf("all clubs: members %v month %s club %s; want %v 2025-03 all", ids, in.Month, in.Club, want)
	}
}

func TestBuildErrors(t *testing.T) {
	base := Options{DataEnd: day(2025, 7, 1), Spec: gymSpec(t), Risk: RiskThresholds{0.3, 0.6}}
	for _, c := range []struct {
		name   string
		edit   func(*Options, *fakeScore)
		option string // "" when not an OptionError
		want   string
	}{
		{"club", func(o *Options, _ *fakeScore) { o.Club = "nowhere" }, "club", `unknown club "nowhere"`},
		{"month", func(o *Options, _ *fakeScore) { o.Month = "2025-13" }, "month", `"2025-13" is not YYYY-MM`},
		{"as-of", func(o *Options, _ *fakeScore) { o.AsOf = day(2023, 1, 1) }, "as-of", "not after the data's start"},
		{"score", func(_ *Options, f *fakeScore) { f.fail = "m1" }, "", "score member"},
		{"spec", func(o *Options, _ *fakeScore) { o.Spec = nil }, "", "Spec is nil"},
	} {
		o, fs := base, newFake()
		c.edit(&o, fs)
		_, err := Build(context.Background(), gym(), fs.score, o)
		// BuildFrom fails the same way ("score members m1 to m6: boom").
		_, berr := BuildFrom(context.Background(), HistorySource(gym(), datasets.Manifest{}), fs.batch, o)
		for _, err := range []error{err, berr} {
			var oe *OptionError
			switch {
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			case c.option != "" && (!errors.As(err, &oe) || oe.Option != c.option):
				t.Errorf("%s: error %v is not an OptionError of %s", c.name, err, c.option)
			case c.option == "" && errors.As(err, &oe):
				t.Errorf("%s: error %v is an OptionError", c.name, err)
			}
		}
	}
}

// TestBuildFrom: BuildFrom of the gym's histories (HistorySource) gives
// Build's Input, KPIs and counts included, for a club, all clubs, an as-of
// instant within a day and one at a month's start, with and without a
// data start.
func TestBuildFrom(t *testing.T) {
	for _, o := range []Options{
		{Club: "north", Month: "2025-03"},
		{Month: "2025-03", DataStart: day(2024, 1, 1)},
		{Club: "south", AsOf: day(2025, 2, 10).Add(15 * time.Hour)},
		{AsOf: day(2025, 6, 1), TopN: 2, ListRows: 1},
	} {
		o.DataEnd, o.Spec, o.Risk, o.Workers = day(2025, 7, 1), gymSpec(t), RiskThresholds{0.3, 0.6}, 2
		want, err := Build(context.Background(), gym(), newFake().score, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := BuildFrom(context.Background(), HistorySource(gym(), datasets.Manifest{}), newFake().batch, o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v:\n got %+v\nwant %+v", o, got, want)
		}
		if len(want.Members) == 0 || len(want.Months) == 0 {
			t.Errorf("%+v: %d members, %d months: nothing compared", o, len(want.Members), len(want.Months))
		}
	}
}

// TestReadDir reads a generated dataset back: every member and event, in
// time order; a bad row is an error naming its file and row.
func TestReadDir(t *testing.T) {
	cfg := synth.DefaultConfig()
	cfg.Members, cfg.Weeks, cfg.Clubs, cfg.TruthSims, cfg.Workers = 40, 30, 2, -1, 1
	var sink synth.MemorySink
	if _, err := synth.Generate(cfg, &sink); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "gym")
	if _, err := synth.WriteDir(cfg, dir, &synth.WriteOptions{Format: "csv"}); err != nil {
		t.Fatal(err)
	}
	hs, man, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if man.End.IsZero() {
		t.Error("manifest without end")
	}
	var na, nt int
	for _, h := range hs {
		na += len(h.Attendance)
		nt += len(h.Transactions)
		if !slices.IsSortedFunc(h.Attendance, func(a, b datasets.Attendance) int { return a.TS.Compare(b.TS) }) {
			t.Errorf("attendance of %s not sorted", h.Member.MemberID)
		}
		for _, a := range h.Attendance {
			if a.MemberID != h.Member.MemberID {
				t.Fatalf("attendance %s of %s in the history of %s", a.EventID, a.MemberID, h.Member.MemberID)
			}
		}
	}
	if len(hs) != len(sink.MemberRows) || na != len(sink.AttendanceRows) || nt != len(sink.TransactionRows) {
		t.Errorf("read %d members, %d visits, %d transactions; generated %d, %d, %d",
			len(hs), na, nt, len(sink.MemberRows), len(sink.AttendanceRows), len(sink.TransactionRows))
	}

	// Break the third data row of the attendance file: its member.
	path := filepath.Join(dir, "attendance.csv")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 5)
	f := strings.Split(lines[3], ",")
	col := slices.Index(strings.Split(lines[0], ","), "member_id")
	f[col] = "NOBODY"
	lines[3] = strings.Join(f, ",")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "attendance.csv") || !strings.Contains(err.Error(), "NOBODY") {
		t.Errorf("bad row: error %v, want one naming attendance.csv and NOBODY", err)
	}
	t.Log(err)
	// OpenDir checks the rows as BuildFrom reads them: the same error.
	src, man, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var clubs []string
	for _, m := range sink.MemberRows {
		if !slices.Contains(clubs, m.HomeClub) {
			clubs = append(clubs, m.HomeClub)
		}
	}
	spec, err := features.NewSpec(features.DefaultConfig(), sink.CourseRows, clubs)
	if err != nil {
		t.Fatal(err)
	}
	_, berr := BuildFrom(context.Background(), src, newFake().batch, Options{DataEnd: man.End, Spec: spec, Risk: RiskThresholds{0.3, 0.6}})
	if berr == nil || !strings.Contains(berr.Error(), "attendance.csv") || !strings.Contains(berr.Error(), "NOBODY") ||
		!strings.Contains(berr.Error(), "row 3") && !strings.Contains(berr.Error(), ":3") {
		t.Errorf("BuildFrom of the bad row: error %v, want one naming attendance.csv, row 3 and NOBODY", berr)
	}
	t.Log(berr)
}
