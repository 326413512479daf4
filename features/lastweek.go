package features

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"retain/datasets"
)

// LastWeekReport summarises BuildLastWeekOut.
type LastWeekReport struct {
	Output string
	Bytes  int64
	// Members, Courses, Attendance and Transactions are the rows read;
	// Rejected the rows the readers rejected (RejectedSamples: the first
	// ten); UnknownMember the events of members not in the members table
	// (skipped).
	Members, Courses, Attendance, Transactions, Rejected, UnknownMember int
	RejectedSamples                                                     []string
	// Test counts the members with a test example. Members without one:
	// NoVisits (no visit at all) and OneWeek (every visit in the last
	// active week, so no history before the test cutoff).
	Test, NoVisits, OneWeek int
	// DataStart and DataEnd are the observed range; TrainCutoffs the grid
	// of training cutoffs (each member's training examples are at those
	// before their test cutoff).
	DataStart, DataEnd time.Time
	TrainCutoffs       []time.Time
	// Examples counts the examples by split (the file footer's counts).
	Examples map[string]SplitCounts
	// LTV is the fitted model of the ltv indicator (see BuildReport.LTV).
	LTV     LTVModel
	Seconds float64
}

// BuildLastWeekOut writes the training file of the leave-last-week-out
// protocol, for next-item evaluation on interaction logs (docs/labels.md,
// "Leave-last-week-out"). For each member with visits in at least two
// weeks of the grid (Config.WeekStart in Config.TimeZone):
//
//   - the test cutoff T is the start of the week of the member's last
//     visit. The test example is the member at T: the history is every
//     event before T, the next-class target is the first class of the
//     first active week at or after T — the first item of the member's
//     last active week. Its churn label is withheld (Censored): the cutoff
//     was chosen knowing that the member is active right after it. It is
//     never Excluded: a member who comes back after a horizon or more of
//     inactivity is tested too.
//   - the training examples are at the grid cutoffs (the rolling cutoffs of
//     cfg, continued to the end of the data unless Config.LastCutoff is set)
//     strictly before T, computed from the events before T only and with
//     the observation ending at T: a next-class target is the first class in
//     [c, min(c + horizon, T)), and a churn label whose horizon runs past T
//     is censored (so such an example trains nothing, since the trainer
//     skips censored rows, but its next class still feeds the baselines).
//     Members hashed below Config.Split.ValidationFraction (seed
//     Config.Split.Seed) have these examples in the validation split
//     instead of training.
//
// No example reads an event at or after its member's test cutoff except
// the test target. What training shares with a test target is calendar
// time: another member's training labels may lie after this member's test
// cutoff (as in every leave-last-out split of a log).
//
// Config.Split.Mode must be SplitModeLastWeek and Config.Tier.Mode fixed.
// It holds every event in memory. Of opts (nil for defaults) only Strict
// applies: a row that a reader rejects fails the build instead of being
// counted and skipped.
func BuildLastWeekOut(src Source, cfg Config, outPath string, opts *BuildOptions) (*LastWeekReport, error) {
	t0 := time.Now()
	var o BuildOptions
	if opts != nil {
		o = *opts
	}
	if cfg.Split.Mode != SplitModeLastWeek {
		return nil, fmt.Errorf("%w: BuildLastWeekOut needs Split.Mode %q, got %q", ErrConfig, SplitModeLastWeek, cfg.Split.Mode)
	}
	if cfg.Tier.Mode == TierQuantile {
		return nil, fmt.Errorf("%w: --split %s supports fixed tiers only", ErrConfig, SplitModeLastWeek)
	}
	man := src.Manifest()
	if man.Version > 0 {
		cfg.Values.MinorUnits = man.MinorUnits
	}
	b, err := NewBuilder(cfg)
	if err != nil {
		return nil, err
	}
	rep := &LastWeekReport{Output: outPath}
	rs := &readStats{strict: o.Strict}
	var members []datasets.Member
	mr, err := src.Members()
	if err != nil {
		return nil, fmt.Errorf("features: members: %w", err)
	}
	if err := readAll(mr, 4096, rs, func(m *datasets.Member) error {
		members = append(members, *m)
		return b.AddMember(m)
	}); err != nil {
		return nil, fmt.Errorf("features: members: %w", err)
	}
	if cr, err := src.Courses(); err != nil {
		return nil, fmt.Errorf("features: courses: %w", err)
	} else if cr != nil {
		if err := readAll(cr, 4096, rs, func(c *datasets.Course) error { rep.Courses++; return b.AddCourse(c) }); err != nil {
			return nil, fmt.Errorf("features: courses: %w", err)
		}
	}
	spec, err := b.Freeze()
	if err != nil {
		return nil, err
	}
	f := b.f
	idx := b.idx
	hist := make([]History, len(members))
	for i := range members {
		hist[i].Member = members[i]
	}
	clk := newClock(f.loc)
	minDay, maxDay := int32(farDay), int32(noDay)
	see := func(ts time.Time) {
		d := clk.day(ts)
		minDay, maxDay = min(minDay, d), max(maxDay, d)
	}
	ar, err := src.Attendance()
	if err != nil {
		return nil, fmt.Errorf("features: attendance: %w", err)
	}
	if ar == nil {
		return nil, fmt.Errorf("features: --split %s needs the attendance table (the interactions)", SplitModeLastWeek)
	}
	if err := readAll(ar, 4096, rs, func(a *datasets.Attendance) error {
		rep.Attendance++
		i, ok := idx[a.MemberID]
		if !ok {
			rep.UnknownMember++
			return nil
		}
		see(a.TS)
		hist[i].Attendance = append(hist[i].Attendance, *a)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("features: attendance: %w", err)
	}
	tr, err := src.Transactions()
	if err != nil {
		return nil, fmt.Errorf("features: transactions: %w", err)
	}
	if tr != nil {
		if err := readAll(tr, 4096, rs, func(x *datasets.Transaction) error {
			rep.Transactions++
			i, ok := idx[x.MemberID]
			if !ok {
				rep.UnknownMember++
				return nil
			}
			see(x.TS)
			hist[i].Transactions = append(hist[i].Transactions, *x)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("features: transactions: %w", err)
		}
	}
	rep.Members = len(members)
	rep.Rejected, rep.RejectedSamples = int(rs.rejected), rs.samples

	// The observed range: the manifest's, else the events'; the
	// manifest's End is exclusive (docs/data-format.md), and observation
	// runs to the end of the day before End's day, as in Builder.dataDays.
	// Config.DataEnd overrides the end.
	if minDay == farDay {
		return nil, noEvents(rep.Members, int64(rep.Attendance+rep.Transactions), int64(rep.Rejected), int64(rep.UnknownMember))
	}
	startDay, endDay := minDay, maxDay+1
	if !man.Start.IsZero() {
		startDay = clk.day(man.Start)
	}
	if !man.End.IsZero() {
		endDay = clk.day(man.End)
	}
	if !cfg.DataEnd.IsZero() {
		endDay = clk.day(cfg.DataEnd)
	}
	rep.DataStart, rep.DataEnd = clk.instant(startDay), clk.instant(endDay)
	gridCfg := cfg
	if gridCfg.LastCutoff.IsZero() {
		gridCfg.LastCutoff = rep.DataEnd.AddDate(0, 0, -1)
	}
	days, err := cutoffDays(&gridCfg, &clk, rep.DataStart, rep.DataEnd)
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		rep.TrainCutoffs = append(rep.TrainCutoffs, clk.instant(d))
	}

	g := grid{phase: phaseOf(cfg.WeekStart)}
	T := int32(cfg.Weeks)
	if err := b.setLTV(naiveLTV(&b.cfg, ltvLastWeek)); err != nil {
		return nil, err
	}
	f, spec = b.f, b.spec
	rep.LTV = spec.LTV
	var blocks []*MemberBlock
	testDays := map[int32]bool{}
	usedDays := map[int32]bool{}
	for i := range hist {
		h := &hist[i]
		if len(h.Attendance) == 0 {
			rep.NoVisits++
			continue
		}
		last := int32(noDay)
		for k := range h.Attendance {
			last = max(last, clk.day(h.Attendance[k].TS))
		}
		if last >= endDay {
			return nil, fmt.Errorf("features: member %s has a visit on %s, at or after the end of the data %s (--data-end; leave-last-week-out needs every visit observed)", h.Member.MemberID,
				clk.instant(last).Format(time.DateOnly), rep.DataEnd.Format(time.DateOnly))
		}
		td := g.start(g.week(last))
		// The history: every event before the test cutoff.
		before := History{Member: h.Member}
		for _, a := range h.Attendance {
			if clk.day(a.TS) < td {
				before.Attendance = append(before.Attendance, a)
			}
		}
		for _, x := range h.Transactions {
			if clk.day(x.TS) < td {
				before.Transactions = append(before.Transactions, x)
			}
		}
		if len(before.Attendance) == 0 {
			rep.OneWeek++
			continue
		}
		test, err := f.computeUntil(h, td, endDay)
		if errors.Is(err, ErrNotJoined) {
			rep.OneWeek++ // joined in the last active week
			continue
		}
		if err != nil {
			return nil, err
		}
		// The churn label is withheld; a member inactive for a horizon
		// before T (already churned under the inactivity label) is still
		// tested: Evaluate skips excluded examples.
		test.Label.Churn, test.Label.Censored, test.Label.Excluded = -1, true, false
		test.Split = SplitTest
		exs := []*Example{}
		trainSplit := SplitTrain
		if memberHash(h.Member.MemberID, cfg.Split.Seed) < cfg.Split.ValidationFraction {
			trainSplit = SplitValidation
		}
		for _, c := range days {
			if c >= td {
				break
			}
			ex, err := f.computeUntil(&before, c, td)
			if errors.Is(err, ErrNotJoined) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if ex.Label.Excluded && !cfg.Label.KeepAlreadyChurned {
				continue
			}
			ex.Split = trainSplit
			exs = append(exs, ex)
		}
		exs = append(exs, test)
		blk, err := exampleBlock(int(idx[h.Member.MemberID]), exs, g, &clk, T, len(spec.Sequence))
		if err != nil {
			return nil, err
		}
		for _, e := range blk.Examples {
			usedDays[e.CutoffDay] = true
		}
		testDays[td] = true
		rep.Test++
		blocks = append(blocks, blk)
	}
	if rep.Test == 0 {
		return nil, fmt.Errorf("features: no member has visits in two weeks: nothing to test (%d members without visits, %d with one active week)", rep.NoVisits, rep.OneWeek)
	}

	// The header: every cutoff used, test where it is some member's test
	// cutoff (examples of other members may be training ones there).
	hdr := &FileHeader{Spec: *spec, Members: b.MemberIDs(), DataStart: rep.DataStart, DataEnd: rep.DataEnd, Source: man.Source}
	var cds []int32
	for d := range usedDays {
		cds = append(cds, d)
	}
	slices.Sort(cds)
	for _, d := range cds {
		hdr.Cutoffs = append(hdr.Cutoffs, clk.instant(d))
		s := SplitTrain
		if testDays[d] {
			s = SplitTest
		}
		hdr.Splits = append(hdr.Splits, s)
	}
	w, err := CreateFile(outPath, hdr, nil)
	if err != nil {
		return nil, err
	}
	for _, blk := range blocks {
		if err := w.WriteBlock(blk); err != nil {
			w.Abort()
			return nil, err
		}
	}
	ft := w.Footer()
	if err := w.Close(); err != nil {
		return nil, err
	}
	rep.Examples = ft.Splits
	if st, err := os.Stat(outPath); err == nil {
		rep.Bytes = st.Size()
	}
	rep.Seconds = time.Since(t0).Seconds()
	return rep, nil
}

// ltvLastWeek is the reason why the leave-last-week-out build keeps the
// naive LTV formula. Its training examples all precede a visit of their
// member (the test week's), so a calibration sample drawn from them shows
// nobody dropping out: the BG/NBD fit runs off to a = 0 (no dropout) on
// the synthetic gym, and any fit would overstate lifetimes. Events after a
// member's test cutoff are hidden, so there is no unbiased sample.
const ltvLastWeek = "not fitted: the leave-last-week-out split has no calibration sample free of survivor bias (every training cutoff precedes a visit of its member, so nobody is seen dropping out)"

// exampleBlock lays one member's examples (ascending cutoffs on grid g)
// out as a MemberBlock: one run of weekly rows from the first window's start
// to the last cutoff. Where windows overlap their rows must agree (they are
// computed from the same events before the earlier cutoff); a disagreement
// is an error.
func exampleBlock(member int, exs []*Example, g grid, clk *clock, T int32, F int) (*MemberBlock, error) {
	slices.SortFunc(exs, func(a, b *Example) int { return cmp.Compare(a.Cutoff.Unix(), b.Cutoff.Unix()) })
	first := clk.day(exs[0].Cutoff) - 7*T
	n := int((clk.day(exs[len(exs)-1].Cutoff) - first) / 7)
	blk := &MemberBlock{Member: member, FirstDay: first, Rows: make([]float32, n*F), Mask: make([]float32, n)}
	set := make([]bool, n)
	for _, ex := range exs {
		cd := clk.day(ex.Cutoff)
		if (cd-first)%7 != 0 || g.start(g.week(cd)) != cd {
			return nil, fmt.Errorf("features: cutoff %s of member %s is off the week grid", ex.Cutoff.Format(time.DateOnly), ex.MemberID)
		}
		end := int((cd - first) / 7)
		for r := range int(T) {
			row := end - int(T) + r
			src := ex.Seq[r*F : (r+1)*F]
			if set[row] {
				if !slices.Equal(blk.Rows[row*F:(row+1)*F], src) || blk.Mask[row] != ex.Mask[r] {
					return nil, fmt.Errorf("features: member %s: week %d of the windows at two cutoffs disagree", ex.MemberID, row)
				}
				continue
			}
			copy(blk.Rows[row*F:], src)
			blk.Mask[row] = ex.Mask[r]
			set[row] = true
		}
		blk.Examples = append(blk.Examples, BlockExample{
			CutoffDay: cd, Split: ex.Split, Label: ex.Label, Static: ex.Static, Indicators: ex.Indicators,
		})
	}
	return blk, nil
}
