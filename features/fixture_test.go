package features

import (
	"fmt"
	"time"

	"retain/datasets"
)

// This file builds the hand-made members of the golden, flag and label
// tests. The reference cutoff is Monday 2024-03-04 00:00 UTC; with the
// test config (4 weekly steps, a 2-week horizon) the weeks are
//
//	w-4 2024-02-05..02-11   w-3 02-12..02-18   w-2 02-19..02-25   w-1 02-26..03-03
//	horizon 2024-03-04..03-17 (ends at the start of 03-18)

var cutoff = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// date returns midnight UTC of y-m-d.
func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// at returns y-m-d hh:00 UTC.
func at(y int, m time.Month, d, hh int) time.Time { return time.Date(y, m, d, hh, 0, 0, 0, time.UTC) }

// testConfig is DefaultConfig with 4 weekly steps, a 2-week horizon and
// data observed until 2024-05-01.
func testConfig() Config {
	c := DefaultConfig()
	c.Weeks = 4
	c.HorizonWeeks = 2
	c.DataEnd = date(2024, 5, 1)
	return c
}

var testCourses = []datasets.Course{
	{CourseID: "Y1", Name: "Yoga", Category: "yoga"},
	{CourseID: "S1", Name: "Spin", Category: "cycling"},
	{CourseID: "B1", Name: "Boxing", Category: "boxing"},
}

// historyBuilder collects one member's events with generated event ids.
type historyBuilder struct {
	h History
	n int
}

func newHistory(m datasets.Member) *historyBuilder { return &historyBuilder{h: History{Member: m}} }

func (b *historyBuilder) visit(ts time.Time, course string, minutes int) *historyBuilder {
	b.n++
	b.h.Attendance = append(b.h.Attendance, datasets.Attendance{
		EventID: fmt.Sprintf("%s-a%d", b.h.Member.MemberID, b.n), MemberID: b.h.Member.MemberID,
		TS: ts, CourseID: course, DurationMin: minutes, Source: datasets.SourcePOS,
	})
	return b
}

func (b *historyBuilder) pay(ts time.Time, amount int64, kind datasets.TxKind) *historyBuilder {
	b.n++
	b.h.Transactions = append(b.h.Transactions, datasets.Transaction{
		EventID: fmt.Sprintf("%s-t%d", b.h.Member.MemberID, b.n), MemberID: b.h.Member.MemberID,
		TS: ts, Amount: amount, Kind: kind,
	})
	return b
}

// handMade returns the five hand-made members.
func handMade() []History {
	// alice: annual contract (synth style: no contract_end, due on the
	// anniversaries of 2023-01-10), renewed 2024-01-10; active in 3 of
	// the last 4 weeks; first class after the cutoff is spin (S1).
	alice := newHistory(datasets.Member{
		MemberID: "alice", JoinedAt: at(2023, 1, 10, 8), BirthYear: 1990, Gender: "female", HomeClub: "north",
		ContractType: datasets.ContractAnnual, ContractStart: date(2023, 1, 10),
	}).
		pay(at(2023, 1, 10, 8), 60000, datasets.TxMembershipFee).
		pay(at(2024, 1, 10, 9), 60000, datasets.TxRenewal).
		pay(at(2024, 2, 20, 12), 2550, datasets.TxRetail).
		visit(at(2024, 2, 6, 18), "Y1", 60).
		visit(at(2024, 2, 8, 7), "", 45).
		visit(at(2024, 2, 19, 18), "S1", 45).
		visit(at(2024, 2, 21, 18), "Y1", 60).
		visit(at(2024, 2, 24, 10), "", 30).
		visit(at(2024, 3, 2, 9), "B1", 50).
		// after the cutoff
		visit(at(2024, 3, 5, 7), "", 40).
		visit(at(2024, 3, 6, 18), "S1", 45).
		pay(at(2024, 3, 5, 12), 1000, datasets.TxRetail)

	// bob: joined on Wednesday 2024-02-28, one spin class, nothing after
	// the cutoff.
	bob := newHistory(datasets.Member{
		MemberID: "bob", JoinedAt: at(2024, 2, 28, 12), HomeClub: "south",
		ContractType: datasets.ContractMonthly, ContractStart: date(2024, 2, 28),
	}).
		pay(time.Date(2024, 2, 28, 12, 5, 0, 0, time.UTC), 4900, datasets.TxMembershipFee).
		visit(at(2024, 3, 1, 17), "S1", 45)

	// carol: still paying monthly, last visit 2023-11-20, home club "east"
	// (not in the test spec's clubs).
	carol := newHistory(datasets.Member{
		MemberID: "carol", JoinedAt: at(2023, 6, 1, 10), BirthYear: 1960, Gender: "male", HomeClub: "east",
		ContractType: datasets.ContractMonthly, ContractStart: date(2023, 6, 1),
	}).
		pay(at(2023, 6, 1, 10), 4900, datasets.TxMembershipFee).
		pay(at(2023, 12, 1, 6), 4900, datasets.TxMembershipFee).
		pay(at(2024, 1, 1, 6), 4900, datasets.TxMembershipFee).
		pay(at(2024, 2, 1, 6), 4900, datasets.TxMembershipFee).
		pay(at(2024, 3, 1, 6), 4900, datasets.TxMembershipFee).
		visit(at(2023, 11, 13, 18), "Y1", 60).
		visit(at(2023, 11, 20, 18), "Y1", 60)

	// dave: annual contract 2023-03-21..2024-03-20 (contract_end set),
	// never renewed; 10 open-gym visits in the 8 weeks before 2024-01-08,
	// 3 in the 8 weeks after.
	dave := newHistory(datasets.Member{
		MemberID: "dave", JoinedAt: at(2023, 3, 21, 9), BirthYear: 2000, Gender: "other", HomeClub: "north",
		ContractType: datasets.ContractAnnual, ContractStart: date(2023, 3, 21), ContractEnd: date(2024, 3, 20),
	}).
		pay(at(2023, 3, 21, 9), 72000, datasets.TxMembershipFee)
	for _, d := range []time.Time{
		date(2023, 11, 14), date(2023, 11, 16), date(2023, 11, 21), date(2023, 11, 23), date(2023, 11, 28),
		date(2023, 11, 30), date(2023, 12, 5), date(2023, 12, 7), date(2023, 12, 12), date(2023, 12, 14),
		date(2024, 1, 9), date(2024, 2, 6), date(2024, 2, 27),
		date(2024, 3, 5), // after the cutoff
	} {
		dave.visit(d.Add(7*time.Hour), "", 60)
	}

	// erin: nothing since 2023-12-01.
	erin := newHistory(datasets.Member{
		MemberID: "erin", JoinedAt: at(2022, 5, 2, 10), BirthYear: 1985, Gender: "female", HomeClub: "south",
		ContractType: datasets.ContractMonthly, ContractStart: date(2022, 5, 2),
	}).
		pay(at(2023, 12, 1, 6), 4900, datasets.TxMembershipFee).
		visit(at(2023, 12, 1, 18), "Y1", 60)

	return []History{alice.h, bob.h, carol.h, dave.h, erin.h}
}

// testFeaturizer returns a Featurizer for cfg with the test courses, the
// clubs north and south and the hand-set LTV model handLTV.
func testFeaturizer(cfg Config) *Featurizer {
	spec, err := NewSpec(cfg, testCourses, []string{"north", "south"})
	if err != nil {
		panic(err)
	}
	spec.LTV = handLTV(&cfg)
	f, err := NewFeaturizer(spec)
	if err != nil {
		panic(err)
	}
	return f
}

// col returns the index of name in names, panicking when absent.
func col(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	panic("no column " + name)
}

// handLTV is an LTV model with published parameters, set by hand: the
// BG/NBD fit of the CDNOW sample in Fader, Hardie & Lee (2005), Table 2
// (r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, per week) and the
// Gamma-Gamma fit of the same data in lifetimes' documentation (p = 6.25,
// q = 3.74, v = 15.44, dollars).
func handLTV(cfg *Config) LTVModel {
	return LTVModel{
		Model: LTVBTYD, TimeUnit: LTVTimeUnit, HorizonWeeks: ltvHorizonWeeks(cfg),
		R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426,
		P: 6.25, Q: 3.74, V: 15.44,
	}
}
