package features

import (
	"math"
	"time"
	_ "time/tzdata" // Config.TimeZone must resolve the same on every machine.
)

// Days are counted as civil day numbers: day 0 is 1970-01-01 and an instant
// belongs to the day of its local date in the configured zone. Weeks are
// numbered on a grid of 7-day steps whose phase p (0..6) fixes the first day
// of each week: week w covers days [7w+p, 7w+p+7).

// noDay marks "no such day" in int32 day fields.
const noDay = math.MinInt32

// farDay is later than any real day.
const farDay = math.MaxInt32

// daysFromCivil returns the day number of the proleptic Gregorian date y-m-d
// (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int32) (y, m, d int) {
	zz := int(z) + 719468
	era := zz / 146097
	if zz < 0 && zz%146097 != 0 {
		era = (zz - 146096) / 146097
	}
	doe := zz - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// dateDay returns the day number of a calendar date stored as a time (its
// UTC year, month and day, as datasets stores dates), or noDay for the zero
// time.
func dateDay(t time.Time) int32 {
	if t.IsZero() {
		return noDay
	}
	y, m, d := t.UTC().Date()
	return daysFromCivil(y, int(m), d)
}

// weekdayOf returns the weekday of day z.
func weekdayOf(z int32) time.Weekday {
	// Day 0, 1970-01-01, was a Thursday.
	return time.Weekday(floorMod(int64(z)+4, 7))
}

// dayOfYear returns the 1-based day of the year of day z.
func dayOfYear(z int32) int {
	y, _, _ := civilFromDays(z)
	return int(z-daysFromCivil(y, 1, 1)) + 1
}

// monthIndex returns y*12 + (m-1) for day z.
func monthIndex(z int32) int32 {
	if i := z - monthTableStart; i >= 0 && int(i) < len(monthTable) {
		return monthTable[i]
	}
	y, m, _ := civilFromDays(z)
	return int32(y*12 + m - 1)
}

// monthTable caches monthIndex for the days of 1970..2199, the hot path of
// per-event bookkeeping and of the seasonal flag.
var (
	monthTableStart = daysFromCivil(1970, 1, 1)
	monthTable      = func() []int32 {
		end := daysFromCivil(2200, 1, 1)
		t := make([]int32, end-monthTableStart)
		for i := range t {
			y, m, _ := civilFromDays(monthTableStart + int32(i))
			t[i] = int32(y*12 + m - 1)
		}
		return t
	}()
)

// monthStart returns the first day of month index mi.
func monthStart(mi int32) int32 {
	return daysFromCivil(int(floorDiv(int64(mi), 12)), int(floorMod(int64(mi), 12))+1, 1)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m != 0 && ((m < 0) != (b < 0)) {
		m += b
	}
	return m
}

// phaseOf returns the grid phase whose weeks start on weekday ws.
func phaseOf(ws time.Weekday) int32 {
	// Day 4 (1970-01-05) is a Monday; day 3 a Sunday.
	return int32(floorMod(int64(ws)+3, 7))
}

// grid numbers weeks.
type grid struct{ phase int32 }

func (g grid) week(day int32) int32 { return int32(floorDiv(int64(day-g.phase), 7)) }
func (g grid) start(w int32) int32  { return 7*w + g.phase }

// clock converts instants to day numbers in one zone. It caches the zone
// offset in effect, so a clock is not safe for concurrent use; copy it.
type clock struct {
	loc        *time.Location
	fixed      bool  // loc is UTC: offset 0 forever
	zStart     int64 // unix seconds: the cached zone applies in [zStart, zEnd)
	zEnd       int64
	zOff       int64
	zoneCached bool
}

func newClock(loc *time.Location) clock {
	return clock{loc: loc, fixed: loc == time.UTC}
}

// day returns the day number of instant t in the clock's zone.
func (c *clock) day(t time.Time) int32 {
	s := t.Unix()
	if c.fixed {
		return int32(floorDiv(s, 86400))
	}
	if !c.zoneCached || s < c.zStart || s >= c.zEnd {
		lt := t.In(c.loc)
		_, off := lt.Zone()
		start, end := lt.ZoneBounds()
		c.zOff = int64(off)
		c.zStart, c.zEnd = math.MinInt64, math.MaxInt64
		if !start.IsZero() {
			c.zStart = start.Unix()
		}
		if !end.IsZero() {
			c.zEnd = end.Unix()
		}
		c.zoneCached = true
	}
	return int32(floorDiv(s+c.zOff, 86400))
}

// instant returns the instant at which day z begins in the clock's zone.
func (c *clock) instant(z int32) time.Time {
	y, m, d := civilFromDays(z)
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, c.loc)
}
