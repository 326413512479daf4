package features

import (
	"math"
	"slices"
	"sort"

	"retain/datasets"
)

// This file holds the compact per-member state that both the batch Builder
// and the single-member Featurizer.Compute fill from events. Its size grows
// with the weeks and months in which a member is active, never with the
// number of events: ten visits in a week are one bucket.

// Gender codes of memberStatic.gender.
const (
	genderUnknown uint8 = iota
	genderFemale
	genderMale
	genderOther
)

// Course codes for attendance events that are not a known class.
const (
	courseOpenGym int32 = -1 // no course: an open-gym visit
	courseUnknown int32 = -2 // a course id missing from the vocabulary
)

// memberStatic is what the members table says about one member.
type memberStatic struct {
	id        string
	join      int32 // day of JoinedAt in the configured zone
	start     int32 // day of ContractStart (a UTC date), noDay when zero
	birthYear int
	gender    uint8
	club      int32 // index into FeatureSpec.Clubs, -1 if not in it
	ctype     datasets.ContractType
	contract  contract
}

// weekAgg aggregates one member's attendance in one week of the grid. A
// bucket exists only for weeks with at least one visit. Counts saturate
// (255 visits, 65535 minutes a week) instead of wrapping.
type weekAgg struct {
	week        int32
	firstClass  int32  // seconds from 00:00 UTC of the week's first day to the week's first class
	minutes     uint16 // minutes of all visits
	visits      uint8
	openGym     uint8
	lastDay     uint8 // day within the week (0..6) of the last visit
	days        uint8 // bit d: a visit on day d (0..6) of the week
	firstCourse int16 // course index of the week's first class; courseOpenGym if none
	lastClass   int32 // like firstClass, for the week's last class
	lastCourse  int16 // course index of the week's last class; courseOpenGym if none
}

// txAgg aggregates one member's transactions of one kind in one week.
type txAgg struct {
	week   int32
	kind   datasets.TxKind
	pays   uint16 // number of payments: transactions with a positive amount
	amount int64  // minor units, refunds negative
}

// monthAct records activity days within one calendar month.
type monthAct struct {
	month       int32 // monthIndex
	first, last int32 // days
}

// attState is the attendance half of a member's state.
type attState struct {
	weeks  []weekAgg
	cats   []uint8 // class counts (saturating), len(weeks)*nCat, nCat per week
	months []monthAct
	// classes are the classes attended, in the order added, for the
	// choice features (choice.go); unlike the rest of the state they grow
	// with the number of classes (16 bytes each).
	classes []classEv
}

// txState is the transaction half of a member's state. It is kept apart
// from attState so that the two tables can be read concurrently.
type txState struct {
	txs        []txAgg // sorted by (week, kind)
	renewals   []int32 // days of renewal transactions, sorted
	courseBuys []int32 // days of course purchases, sorted
	months     []monthAct
}

// member is one member's whole state.
type member struct {
	memberStatic
	att attState
	tx  txState
}

// activity returns the member's activity days by month, for the contract.
func (m *member) activity() activity { return activity{m.att.months, m.tx.months} }

// addVisit records one attendance event on day, at unix second ts, of
// course index course (or courseOpenGym, courseUnknown) of category cat (or
// -1) lasting minutes.
func (s *attState) addVisit(g grid, nCat int, day int32, ts int64, course, cat int32, minutes int) {
	w := g.week(day)
	i := len(s.weeks) - 1
	if i < 0 || s.weeks[i].week != w {
		i = s.weekSlot(w, nCat)
	}
	b := &s.weeks[i]
	if b.visits < math.MaxUint8 {
		b.visits++
	}
	if minutes > 0 {
		b.minutes = uint16(min(int(b.minutes)+minutes, math.MaxUint16))
	}
	d := uint8(day - g.start(w))
	if d > b.lastDay {
		b.lastDay = d
	}
	b.days |= 1 << d
	if course == courseOpenGym {
		if b.openGym < math.MaxUint8 {
			b.openGym++
		}
	} else {
		if cat >= 0 {
			if c := &s.cats[i*nCat+int(cat)]; *c < math.MaxUint8 {
				*c++
			}
		}
		if course >= 0 && course <= math.MaxInt16 {
			s.classes = append(s.classes, classEv{ts: ts, day: day, course: int16(course)})
			sec := int32(ts - int64(g.start(w))*86400)
			if b.firstCourse < 0 || sec < b.firstClass || (sec == b.firstClass && int16(course) < b.firstCourse) {
				b.firstCourse, b.firstClass = int16(course), sec
			}
			if b.lastCourse < 0 || sec > b.lastClass || (sec == b.lastClass && int16(course) > b.lastCourse) {
				b.lastCourse, b.lastClass = int16(course), sec
			}
		}
	}
	s.months = addMonthAct(s.months, day)
}

// weekSlotsMin is the number of week buckets a member's attendance state
// first allocates.
const weekSlotsMin = 16

// weekSlot returns the index of week w's bucket, inserting an empty one in
// order when there is none.
func (s *attState) weekSlot(w int32, nCat int) int {
	n := len(s.weeks)
	i := n
	if n > 0 && s.weeks[n-1].week > w {
		i = sort.Search(n, func(j int) bool { return s.weeks[j].week >= w })
		if s.weeks[i].week == w {
			return i
		}
	}
	// Grow by doubling from weekSlotsMin buckets: most members have more
	// than a few weeks of visits, and the first small slices were only
	// copied and dropped.
	if n == cap(s.weeks) {
		s.weeks = slices.Grow(s.weeks, max(n, weekSlotsMin))
	}
	s.weeks = append(s.weeks, weekAgg{})
	copy(s.weeks[i+1:], s.weeks[i:n])
	s.weeks[i] = weekAgg{week: w, firstCourse: int16(courseOpenGym), lastCourse: int16(courseOpenGym)}
	if nCat > 0 {
		if len(s.cats)+nCat > cap(s.cats) {
			s.cats = slices.Grow(s.cats, max(len(s.cats), weekSlotsMin*nCat))
		}
		// Past len(s.cats) the capacity is zero: it came from make, the
		// slab or growslice (which clears the tail) and is never written
		// before it is taken here. So a bucket appended at the end needs
		// no clearing.
		s.cats = s.cats[:len(s.cats)+nCat]
		if i < n {
			copy(s.cats[(i+1)*nCat:], s.cats[i*nCat:n*nCat])
			clear(s.cats[i*nCat : (i+1)*nCat])
		}
	}
	return i
}

// addTx records one transaction.
func (s *txState) addTx(g grid, day int32, kind datasets.TxKind, amount int64, renewal bool) {
	w := g.week(day)
	n := len(s.txs)
	i := n - 1
	if i < 0 || s.txs[i].week != w || s.txs[i].kind != kind {
		i = sort.Search(n, func(j int) bool {
			return s.txs[j].week > w || (s.txs[j].week == w && s.txs[j].kind >= kind)
		})
		if i == n || s.txs[i].week != w || s.txs[i].kind != kind {
			s.txs = append(s.txs, txAgg{})
			copy(s.txs[i+1:], s.txs[i:n])
			s.txs[i] = txAgg{week: w, kind: kind}
		}
	}
	t := &s.txs[i]
	if amount > 0 && t.pays < 0xffff {
		t.pays++
	}
	t.amount += amount
	if renewal {
		s.renewals = insertDay(s.renewals, day)
	}
	if isCourseBuy(kind, amount) {
		s.courseBuys = insertDay(s.courseBuys, day)
	}
	if amount > 0 {
		s.months = addMonthAct(s.months, day)
	}
}

// isCourseBuy reports whether a transaction is a course purchase: a class
// pack or a personal-training package with a positive amount.
func isCourseBuy(k datasets.TxKind, amount int64) bool {
	return (k == datasets.TxClassPack || k == datasets.TxPTPackage) && amount > 0
}

// insertDay inserts day into the sorted slice s.
func insertDay(s []int32, day int32) []int32 {
	n := len(s)
	if n == 0 || s[n-1] <= day {
		return append(s, day)
	}
	i := sort.Search(n, func(j int) bool { return s[j] > day })
	s = append(s, 0)
	copy(s[i+1:], s[i:n])
	s[i] = day
	return s
}

// addMonthAct records activity on day in the sorted month list s.
func addMonthAct(s []monthAct, day int32) []monthAct {
	mi := monthIndex(day)
	n := len(s)
	i := n - 1
	if i < 0 || s[i].month != mi {
		i = sort.Search(n, func(j int) bool { return s[j].month >= mi })
		if i == n || s[i].month != mi {
			s = append(s, monthAct{})
			copy(s[i+1:], s[i:n])
			s[i] = monthAct{month: mi, first: day, last: day}
			return s
		}
	}
	s[i].first = min(s[i].first, day)
	s[i].last = max(s[i].last, day)
	return s
}

// searchWeek returns the index of the first bucket with week >= w.
func searchWeek(ws []weekAgg, w int32) int {
	return sort.Search(len(ws), func(j int) bool { return ws[j].week >= w })
}

// searchTx returns the index of the first transaction bucket with week >= w.
func searchTx(ts []txAgg, w int32) int {
	return sort.Search(len(ts), func(j int) bool { return ts[j].week >= w })
}

// searchDay returns the index of the first day >= d in the sorted slice s.
func searchDay(s []int32, d int32) int {
	return sort.Search(len(s), func(j int) bool { return s[j] >= d })
}
