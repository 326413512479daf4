package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"retain/features"
)

// Chart is an inline SVG bar chart, laid out in Go so that the page needs
// no script to draw it and renders the same bytes every time.
type Chart struct {
	ID, Title, Desc string
	W, H            int
	Rects           []Rect
	Lines           []Line
	Texts           []Text
}

// Rect is a bar (Tip becomes its <title>, the browser's tooltip).
type Rect struct {
	X, Y, W, H string
	Class, Tip string
}

// Line is an axis, grid or threshold line.
type Line struct {
	X1, Y1, X2, Y2 string
	Class          string
}

// Text is a label.
type Text struct {
	X, Y          string
	Anchor, Class string
	S             string
}

const (
	chartW, chartH = 620, 260
	padL, padR     = 48, 12
	padT, padB     = 24, 40
)

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// frame returns a chart with its y axis from 0 to ymax, gridlines at ticks,
// labelled by label.
func frame(id, title, desc string, ymax float64, ticks []float64, label func(float64) string) *Chart {
	c := &Chart{ID: id, Title: title, Desc: desc, W: chartW, H: chartH}
	x0, x1 := float64(padL), float64(chartW-padR)
	for _, t := range ticks {
		y := c.y(t, ymax)
		c.Lines = append(c.Lines, Line{X1: f1(x0), Y1: f1(y), X2: f1(x1), Y2: f1(y), Class: "grid"})
		c.Texts = append(c.Texts, Text{X: f1(x0 - 6), Y: f1(y + 4), Anchor: "end", Class: "tick", S: label(t)})
	}
	yb := c.y(0, ymax)
	c.Lines = append(c.Lines, Line{X1: f1(x0), Y1: f1(yb), X2: f1(x1), Y2: f1(yb), Class: "axis"})
	return c
}

func (c *Chart) y(v, ymax float64) float64 {
	ph := float64(chartH - padT - padB)
	if ymax <= 0 {
		return float64(padT) + ph
	}
	return float64(padT) + ph*(1-v/ymax)
}

// slot returns the left edge and width of bar i of n, and its centre.
func slot(i, n int) (x, w, mid float64) {
	pw := float64(chartW - padL - padR)
	sw := pw / float64(n)
	w = sw * 0.7
	x = float64(padL) + sw*float64(i) + (sw-w)/2
	return x, w, x + w/2
}

func (c *Chart) bar(i, n int, v, ymax float64, class, tip string) {
	x, w, _ := slot(i, n)
	// A zero is drawn 1.5 pixels high, so that it reads as a value, not
	// as a missing bar.
	y := min(c.y(v, ymax), c.y(0, ymax)-1.5)
	c.Rects = append(c.Rects, Rect{X: f1(x), Y: f1(y), W: f1(w), H: f1(c.y(0, ymax) - y), Class: class, Tip: tip})
}

func (c *Chart) xlabel(i, n int, s string, row int) {
	_, _, mid := slot(i, n)
	c.Texts = append(c.Texts, Text{X: f1(mid), Y: f1(float64(chartH-padB) + 14 + 12*float64(row)), Anchor: "middle", Class: "tick", S: s})
}

// niceCeil returns the smallest of 1, 2, 5 times a power of ten that is at
// least x (at least 1), and ticks at a fifth of it.
func niceCeil(x float64) (float64, []float64) {
	if x < 1 {
		x = 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	m := 10 * p
	for _, k := range []float64{1, 2, 5} {
		if k*p >= x {
			m = k * p
			break
		}
	}
	var ticks []float64
	for i := 0; i <= 5; i++ {
		ticks = append(ticks, m*float64(i)/5)
	}
	return m, ticks
}

var pctTicks = []float64{0, 0.25, 0.5, 0.75, 1}

func pctLabel(v float64) string { return strconv.Itoa(int(math.Round(100*v))) + "%" }

func countLabel(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// maxChartMonths is the number of months the KPI charts show, ending with
// the month in focus.
const maxChartMonths = 24

// kpiChart draws one monthly rate against its threshold: a bar per month,
// failing months (flag) marked, partial months shaded.
func kpiChart(id, title string, months []features.MonthKPI, threshold float64, val func(*features.MonthKPI) (float64, bool), flag string) *Chart {
	ms := months[max(0, len(months)-maxChartMonths):]
	c := frame(id, title, fmt.Sprintf("%s by month, threshold %s; red bars miss it (%s), pale bars are partial months.", title, pct(threshold), flag),
		1, pctTicks, pctLabel)
	n := max(len(ms), 1)
	for i := range ms {
		k := &ms[i]
		v, ok := val(k)
		month, _ := time.Parse("2006-01", k.Month)
		c.xlabel(i, n, month.Format("Jan"), 0)
		if i == 0 || month.Month() == time.January {
			c.xlabel(i, n, month.Format("2006"), 1)
		}
		if !ok {
			_, _, mid := slot(i, n)
			c.Texts = append(c.Texts, Text{X: f1(mid), Y: f1(c.y(0, 1) - 4), Anchor: "middle", Class: "na", S: "n/a"})
			continue
		}
		class := "bar"
		if slices.Contains(k.Flags, flag) {
			class += " fail"
		}
		if k.Partial {
			class += " partial"
		}
		tip := k.Month + ": " + pct(v)
		if k.Partial {
			tip += " (partial month)"
		}
		c.bar(i, n, v, 1, class, tip)
	}
	y := c.y(threshold, 1)
	c.Lines = append(c.Lines, Line{X1: f1(padL), Y1: f1(y), X2: f1(chartW - padR), Y2: f1(y), Class: "threshold"})
	// The legend sits above the plot, clear of the bars.
	lx := float64(chartW - padR - 130)
	c.Lines = append(c.Lines, Line{X1: f1(lx), Y1: "11", X2: f1(lx + 24), Y2: "11", Class: "threshold"})
	c.Texts = append(c.Texts, Text{X: f1(lx + 30), Y: "15", Anchor: "start", Class: "threshold-label", S: "threshold " + pct(threshold)})
	return c
}

// seasonChart draws churn by month of year: departures over enrolled
// members, summed over the fully observed months with that month of year.
// The highest month is marked.
func seasonChart(months []features.MonthKPI) *Chart {
	var dep, enr [12]int
	for _, k := range months {
		if k.Partial {
			continue
		}
		m, err := time.Parse("2006-01", k.Month)
		if err != nil {
			continue // Check has refused it already
		}
		dep[m.Month()-1] += k.Departures
		enr[m.Month()-1] += k.Enrolled
	}
	var rate [12]float64
	hi := 0.0
	for i := range rate {
		if enr[i] > 0 {
			rate[i] = float64(dep[i]) / float64(enr[i])
			hi = max(hi, rate[i])
		}
	}
	ymax := 0.05
	for ymax < hi {
		ymax += 0.05
	}
	var ticks []float64
	for i := 0; i <= 5; i++ {
		ticks = append(ticks, ymax*float64(i)/5)
	}
	c := frame("season-chart", "Churn by month of year",
		"Departures (last activity before a long gap) over members on the books, by calendar month, fully observed months only; the highest month is marked.",
		ymax, ticks, func(v float64) string { return strconv.FormatFloat(100*v, 'f', 0, 64) + "%" })
	for i := range rate {
		name := time.Month(i + 1).String()[:3]
		c.xlabel(i, 12, name, 0)
		if enr[i] == 0 {
			continue
		}
		class := "bar"
		if rate[i] == hi && hi > 0 {
			class += " peak"
		}
		c.bar(i, 12, rate[i], ymax, class, fmt.Sprintf("%s: %s (%d of %d)", name, pct(rate[i]), dep[i], enr[i]))
		_, _, mid := slot(i, 12)
		c.Texts = append(c.Texts, Text{X: f1(mid), Y: f1(c.y(rate[i], ymax) - 4), Anchor: "middle", Class: "value", S: pct(rate[i])})
	}
	return c
}

// riskTierChart stacks the members of each tier by risk level.
func riskTierChart(n *[3][3]int) *Chart {
	top := 0
	for t := range tiers {
		top = max(top, n[0][t]+n[1][t]+n[2][t])
	}
	ymax, ticks := niceCeil(float64(top))
	c := frame("risk-chart", "Members by tier and risk level", "Members on the books by tier, stacked by risk level (low, medium, high).", ymax, ticks, countLabel)
	for t, name := range tiers {
		x, w, mid := slot(t, len(tiers))
		base := 0
		for r, lvl := range riskLevels {
			k := n[r][t]
			if k == 0 {
				continue
			}
			y0, y1 := c.y(float64(base), ymax), c.y(float64(base+k), ymax)
			c.Rects = append(c.Rects, Rect{X: f1(x), Y: f1(y1), W: f1(w), H: f1(y0 - y1), Class: "bar risk-" + lvl,
				Tip: fmt.Sprintf("%s, %s risk: %d", name, lvl, k)})
			base += k
		}
		c.Texts = append(c.Texts, Text{X: f1(mid), Y: f1(c.y(float64(base), ymax) - 4), Anchor: "middle", Class: "value", S: strconv.Itoa(base)})
		c.xlabel(t, len(tiers), name, 0)
	}
	for r, lvl := range riskLevels {
		x := float64(padL + 10 + 90*r)
		c.Rects = append(c.Rects, Rect{X: f1(x), Y: "6", W: "10", H: "10", Class: "risk-" + lvl, Tip: lvl + " risk"})
		c.Texts = append(c.Texts, Text{X: f1(x + 14), Y: "15", Anchor: "start", Class: "legend", S: lvl + " risk"})
	}
	return c
}

// stageChart counts the renewal-reminder queue by stage.
func stageChart(counts []int) *Chart {
	top := slices.Max(counts)
	ymax, ticks := niceCeil(float64(top))
	c := frame("stage-chart", "Renewal reminders by stage", "Members whose contract ends within 60, 30, 15 and 7 days (the tightest stage).", ymax, ticks, countLabel)
	for i, s := range renewalStages {
		c.bar(i, len(renewalStages), float64(counts[i]), ymax, "bar stage-"+s, fmt.Sprintf("%s: %d", s, counts[i]))
		_, _, mid := slot(i, len(renewalStages))
		c.Texts = append(c.Texts, Text{X: f1(mid), Y: f1(c.y(float64(counts[i]), ymax) - 4), Anchor: "middle", Class: "value", S: strconv.Itoa(counts[i])})
		c.xlabel(i, len(renewalStages), "within "+s, 0)
	}
	return c
}
