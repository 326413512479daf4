package serve

import (
	"time"

	"retain/datasets"
)

// nextSessions returns the first n starts of course c strictly after
// after, in UTC. A course runs weekly on its ISO Weekday (1 = Monday .. 7 =
// Sunday) at its StartTime "HH:MM" of local time in loc; a course without
// both is not on the timetable and has no sessions. Across a change of
// daylight saving time a session keeps its local clock time; a start time
// that the change skips is moved as time.Date moves it.
func nextSessions(c *datasets.Course, after time.Time, loc *time.Location, n int) []time.Time {
	if c.Weekday < 1 || c.Weekday > 7 || !datasets.ValidClock(c.StartTime) || n <= 0 {
		return nil
	}
	hh := int(c.StartTime[0]-'0')*10 + int(c.StartTime[1]-'0')
	mm := int(c.StartTime[3]-'0')*10 + int(c.StartTime[4]-'0')
	local := after.In(loc)
	y, m, d := local.Date()
	want := time.Weekday(c.Weekday % 7) // ISO 7 (Sunday) is Go's 0
	d += (int(want) - int(local.Weekday()) + 7) % 7
	if !time.Date(y, m, d, hh, mm, 0, 0, loc).After(after) {
		d += 7
	}
	out := make([]time.Time, n)
	for i := range out {
		out[i] = time.Date(y, m, d+7*i, hh, mm, 0, 0, loc).UTC()
	}
	return out
}
