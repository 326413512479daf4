package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"retain/features"
)

// Input is everything the page shows. Build fills it; Render draws it.
type Input struct {
	// Club is the club of the report, or features.AllClubs.
	Club string
	// Month is the month in focus, "YYYY-MM"; the KPI charts end with it.
	Month string
	// AsOf is the instant the members are scored at.
	AsOf time.Time
	// DataStart and DataEnd bound the data the report was built from.
	DataStart, DataEnd time.Time

	Model Model
	// Risk are the churn probabilities at which the risk level turns
	// medium and high.
	Risk RiskThresholds
	// RenewalRateMin and ActiveShareMin are the KPI thresholds
	// (features.KPIConfig; 0.85 and 0.70 by default).
	RenewalRateMin, ActiveShareMin float64

	// Months are the club's monthly KPIs, oldest first, up to Month.
	Months []features.MonthKPI
	// Members are the club's members on the books at AsOf, scored.
	Members []Member
	// NotJoined counts the club's members who joined at or after AsOf;
	// Departed those no longer on the books (see Build). Neither is scored.
	NotJoined, Departed int
	// TopN is the number of rows of the at-risk table; 0 means 25.
	TopN int
	// ListRows is the number of rows each list shows on the page; 0 means
	// DefaultListRows. A longer list shows its first ListRows rows and
	// says how many more its CSV download holds: the download has every
	// row.
	ListRows int
}

// DefaultListRows is the default of Input.ListRows.
const DefaultListRows = 200

// Model describes the model that scored the members.
type Model struct {
	Version   string
	TrainedAt time.Time
	// Metrics are the bundle's evaluation metrics by name.
	Metrics map[string]float64
}

// RiskThresholds: p < Medium is low, Medium <= p < High medium, p >= High
// high (as the server's Options.Risk).
type RiskThresholds struct {
	Medium, High float64
}

// Level returns the risk level of churn probability p.
func (r RiskThresholds) Level(p float64) string {
	switch {
	case p >= r.High:
		return RiskHigh
	case p >= r.Medium:
		return RiskMedium
	}
	return RiskLow
}

// The risk levels, lowest first.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

var riskLevels = []string{RiskLow, RiskMedium, RiskHigh}

// Member is one scored member.
type Member struct {
	ID   string
	Club string
	// Tier is the engagement tier (features.Tier's name).
	Tier             string
	ChurnProbability float64
	// Flags are the rule flags set (features.Flags.Names).
	Flags []string
	// DaysAbsent is the number of days since the last visit
	// (features.Indicators.RecencyDays).
	DaysAbsent int
	// DaysToContractEnd is the days to the contract's due date, negative
	// once lapsed; meaningless when OpenEnded.
	DaysToContractEnd int
	OpenEnded         bool
	Reasons           []Reason
	Action            Action
}

// Reason is one thing that pushed the score up or down.
type Reason struct {
	Name         string
	Description  string
	Contribution float64 // positive raises the risk
}

// Action is what staff should do; the zero Action means none.
type Action struct {
	Kind, Stage, OfferText string
}

func (a Action) String() string {
	s := a.Kind
	if a.Stage != "" {
		s += " " + a.Stage
	}
	if a.OfferText != "" {
		s += ": " + a.OfferText
	}
	return s
}

// The flags the page lists members by.
const (
	flagCallback = "coach_callback_90d"
	flagRenewal  = "renewal_reminder_"
)

// renewalStages are the reminder stages, most urgent last.
var renewalStages = []string{"60d", "30d", "15d", "7d"}

var tiers = []string{features.TierPotential.String(), features.TierActive.String(), features.TierCore.String()}

const defaultTopN = 25

//go:embed page.html.tmpl
var pageTemplate string

//go:embed page.css
var pageCSS string

//go:embed page.js
var pageJS string

// ContentSecurityPolicy is the Content-Security-Policy for the page: no
// network at all, only the page's own inline style and script (by hash).
var ContentSecurityPolicy = "default-src 'none'; style-src " + cspHash(pageCSS) + "; script-src " + cspHash(pageJS) +
	"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func cspHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"css":    func() template.CSS { return template.CSS(pageCSS) },
	"js":     func() template.JS { return template.JS(pageJS) },
	"mul100": func(x float64) float64 { return 100 * x },
}).Parse(pageTemplate))

// Render writes the page of in to w.
func Render(w io.Writer, in *Input) error {
	v, err := newView(in)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// Check reports the first thing wrong with in, naming the field.
func (in *Input) Check() error {
	if _, err := time.Parse("2006-01", in.Month); err != nil {
		return fmt.Errorf("report: Month %q is not YYYY-MM", in.Month)
	}
	if in.Club == "" {
		return fmt.Errorf("report: Club is empty")
	}
	if !(0 < in.Risk.Medium && in.Risk.Medium <= in.Risk.High && in.Risk.High <= 1) {
		return fmt.Errorf("report: Risk thresholds %v, %v: want 0 < medium <= high <= 1", in.Risk.Medium, in.Risk.High)
	}
	for _, t := range []float64{in.RenewalRateMin, in.ActiveShareMin} {
		if !(t >= 0 && t <= 1) {
			return fmt.Errorf("report: KPI threshold %v outside [0, 1]", t)
		}
	}
	for i := range in.Members {
		m := &in.Members[i]
		if !(m.ChurnProbability >= 0 && m.ChurnProbability <= 1) {
			return fmt.Errorf("report: Members[%d] (%s): churn probability %v outside [0, 1]", i, m.ID, m.ChurnProbability)
		}
		if !slices.Contains(tiers, m.Tier) {
			return fmt.Errorf("report: Members[%d] (%s): unknown tier %q", i, m.ID, m.Tier)
		}
	}
	for i, k := range in.Months {
		if k.Month > in.Month {
			return fmt.Errorf("report: Months[%d] is %s, after the month in focus %s", i, k.Month, in.Month)
		}
		if i > 0 && k.Month <= in.Months[i-1].Month {
			return fmt.Errorf("report: Months[%d] (%s) is not after Months[%d] (%s)", i, k.Month, i-1, in.Months[i-1].Month)
		}
	}
	return nil
}

// Table is one list of the page: its header, rows and CSV file name.
type Table struct {
	ID       string
	Title    string
	Note     string
	Filename string
	Columns  []Column
	Rows     [][]Cell
	// Shown is the number of rows the page shows (the first ones); 0
	// means all. The CSV has every row.
	Shown int
}

// Visible returns the rows the page shows.
func (t *Table) Visible() [][]Cell {
	if t.Shown > 0 && t.Shown < len(t.Rows) {
		return t.Rows[:t.Shown]
	}
	return t.Rows
}

// Hidden returns the number of rows the page does not show.
func (t *Table) Hidden() int { return len(t.Rows) - len(t.Visible()) }

// Column is a table column; Numeric columns sort by number.
type Column struct {
	Name    string
	Numeric bool
}

// Cell is a table cell: the text shown (and written to the CSV), the
// value sorted by and an optional CSS class.
type Cell struct {
	Text  string
	Sort  string
	Class string
}

// CSV returns the table as CSV (header first, "\n" line ends, a field
// quoted when it holds a quote, comma or line break), exactly as the
// page's download link builds it from the rows in their original order.
func (t *Table) CSV() string {
	var b strings.Builder
	line := func(fs []string) {
		for i, f := range fs {
			if i > 0 {
				b.WriteByte(',')
			}
			if strings.ContainsAny(f, "\",\r\n") {
				f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteByte('\n')
	}
	rec := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		rec[i] = c.Name
	}
	line(rec)
	for _, r := range t.Rows {
		for i, c := range r {
			rec[i] = c.Text
		}
		line(rec)
	}
	return b.String()
}

// view is what the template executes on.
type view struct {
	In       *Input
	Title    string
	AsOf     string
	Data     string
	OnBooks  int
	Counts   [][]string // risk x tier, with totals
	Charts   []*Chart
	Tables   []*Table
	Model    *Table
	Failing  int
	Summary  []string
	TopN     int
	Callback int
	Reminder int
}

// Tables returns the page's lists in page order: the monthly KPIs, the
// coach-callback list, the renewal-reminder queue, the members most at
// risk, and the model's metrics.
func Tables(in *Input) ([]*Table, error) {
	v, err := newView(in)
	if err != nil {
		return nil, err
	}
	return append(slices.Clone(v.Tables), v.Model), nil
}

func newView(in *Input) (*view, error) {
	if err := in.Check(); err != nil {
		return nil, err
	}
	v := &view{In: in, TopN: in.TopN}
	if v.TopN <= 0 {
		v.TopN = defaultTopN
	}
	club := in.Club
	if club == features.AllClubs {
		club = "all clubs"
	}
	v.Title = fmt.Sprintf("Retention report: %s, %s", club, in.Month)
	v.AsOf = in.AsOf.UTC().Format(time.RFC3339)
	v.Data = in.DataStart.UTC().Format(time.DateOnly) + " to " + in.DataEnd.UTC().Format(time.DateOnly)
	v.OnBooks = len(in.Members)

	// Risk x tier counts.
	var n [3][3]int
	for i := range in.Members {
		m := &in.Members[i]
		r := slices.Index(riskLevels, in.Risk.Level(m.ChurnProbability))
		t := slices.Index(tiers, m.Tier)
		n[r][t]++
	}
	v.Counts = append(v.Counts, append([]string{"risk \\ tier"}, append(slices.Clone(tiers), "total")...))
	for r, lvl := range riskLevels {
		row := []string{lvl}
		tot := 0
		for t := range tiers {
			row = append(row, strconv.Itoa(n[r][t]))
			tot += n[r][t]
		}
		v.Counts = append(v.Counts, append(row, strconv.Itoa(tot)))
	}
	tot := []string{"total"}
	for t := range tiers {
		tot = append(tot, strconv.Itoa(n[0][t]+n[1][t]+n[2][t]))
	}
	v.Counts = append(v.Counts, append(tot, strconv.Itoa(len(in.Members))))
	v.Charts = append(v.Charts, riskTierChart(&n))

	// KPIs.
	for i := range in.Months {
		if failing(&in.Months[i]) {
			v.Failing++
		}
	}
	v.Charts = append(v.Charts,
		kpiChart("renewal-chart", "Monthly renewal rate", in.Months, in.RenewalRateMin,
			func(k *features.MonthKPI) (float64, bool) { return k.RenewalRate, k.Due > 0 },
			features.KPIRenewalRateLow),
		kpiChart("active-chart", "Monthly active share", in.Months, in.ActiveShareMin,
			func(k *features.MonthKPI) (float64, bool) { return k.ActiveShare, k.Enrolled > 0 },
			features.KPIActiveShareLow),
		seasonChart(in.Months),
	)
	v.Tables = append(v.Tables, kpiTable(in))

	// Lists.
	cb := callbackTable(in)
	rq, stages := reminderTable(in)
	v.Callback, v.Reminder = len(cb.Rows), len(rq.Rows)
	v.Charts = append(v.Charts, stageChart(stages))
	v.Tables = append(v.Tables, cb, rq, atRiskTable(in, v.TopN))
	shown := in.ListRows
	if shown <= 0 {
		shown = DefaultListRows
	}
	for _, t := range v.Tables {
		t.Shown = shown
	}
	v.Model = modelTable(in)
	return v, nil
}

// failing reports whether month k misses the renewal-rate or active-share
// threshold (the page's two headline KPIs).
func failing(k *features.MonthKPI) bool {
	return slices.Contains(k.Flags, features.KPIRenewalRateLow) || slices.Contains(k.Flags, features.KPIActiveShareLow)
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }

func num(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }

func kpiTable(in *Input) *Table {
	t := &Table{ID: "kpi", Title: "Monthly KPIs", Filename: "kpis-" + in.Club + "-" + in.Month + ".csv",
		Note: fmt.Sprintf("Renewal rate: renewed due dates / decided due dates (threshold %s). Active share: members with a visit in the month / members on the books (threshold %s). Partial months are not fully observed.", pct(in.RenewalRateMin), pct(in.ActiveShareMin)),
		Columns: []Column{{"month", false}, {"due", true}, {"renewed", true}, {"renewal rate", true},
			{"enrolled", true}, {"active", true}, {"active share", true}, {"departures", true}, {"churn rate", true}, {"partial", false}, {"flags", false}}}
	for i := len(in.Months) - 1; i >= 0; i-- {
		k := &in.Months[i]
		class := ""
		if failing(k) {
			class = "fail"
		}
		partial := ""
		if k.Partial {
			partial = "partial"
		}
		rr := Cell{Text: pct(k.RenewalRate), Sort: num(k.RenewalRate)}
		if k.Due == 0 {
			rr = Cell{Text: "n/a", Sort: "-1"}
		}
		as := Cell{Text: pct(k.ActiveShare), Sort: num(k.ActiveShare)}
		if k.Enrolled == 0 {
			as = Cell{Text: "n/a", Sort: "-1"}
		}
		if slices.Contains(k.Flags, features.KPIRenewalRateLow) {
			rr.Class = "fail"
		}
		if slices.Contains(k.Flags, features.KPIActiveShareLow) {
			as.Class = "fail"
		}
		t.Rows = append(t.Rows, []Cell{
			{Text: k.Month, Sort: k.Month, Class: class}, intCell(k.Due), intCell(k.Renewed), rr,
			intCell(k.Enrolled), intCell(k.Active), as, intCell(k.Departures),
			{Text: pct(k.ChurnRate), Sort: num(k.ChurnRate)},
			{Text: partial, Sort: partial}, {Text: strings.Join(k.Flags, " "), Sort: strings.Join(k.Flags, " ")},
		})
	}
	return t
}

func intCell(n int) Cell {
	s := strconv.Itoa(n)
	return Cell{Text: s, Sort: s}
}

func probCell(in *Input, p float64) Cell {
	return Cell{Text: pct(p), Sort: num(p), Class: "risk-" + in.Risk.Level(p)}
}

func callbackTable(in *Input) *Table {
	t := &Table{ID: "callback", Title: "Coach callbacks", Filename: "coach-callbacks-" + in.Club + "-" + in.Month + ".csv",
		Note:    "Members with no visit for 90 days or more (flag coach_callback_90d), longest absence first.",
		Columns: []Column{{"member", false}, {"club", false}, {"tier", false}, {"days absent", true}, {"churn probability", true}, {"risk", false}, {"action", false}}}
	var ms []*Member
	for i := range in.Members {
		if slices.Contains(in.Members[i].Flags, flagCallback) {
			ms = append(ms, &in.Members[i])
		}
	}
	slices.SortStableFunc(ms, func(a, b *Member) int {
		if c := b.DaysAbsent - a.DaysAbsent; c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, m := range ms {
		t.Rows = append(t.Rows, []Cell{{Text: m.ID, Sort: m.ID}, {Text: m.Club, Sort: m.Club}, tierCell(m.Tier), intCell(m.DaysAbsent),
			probCell(in, m.ChurnProbability), riskCell(in, m.ChurnProbability), {Text: m.Action.String(), Sort: m.Action.String()}})
	}
	return t
}

func tierCell(t string) Cell {
	return Cell{Text: t, Sort: strconv.Itoa(slices.Index(tiers, t))}
}

func riskCell(in *Input, p float64) Cell {
	l := in.Risk.Level(p)
	return Cell{Text: l, Sort: strconv.Itoa(slices.Index(riskLevels, l)), Class: "risk-" + l}
}

// reminderTable lists the members with a renewal reminder, the most
// urgent stage first, and counts them by stage (in renewalStages order).
func reminderTable(in *Input) (*Table, []int) {
	t := &Table{ID: "reminders", Title: "Renewal reminders", Filename: "renewal-reminders-" + in.Club + "-" + in.Month + ".csv",
		Note:    "Members whose contract ends within 60 days (flags renewal_reminder_60d/30d/15d/7d, the tightest stage set), soonest first.",
		Columns: []Column{{"member", false}, {"club", false}, {"stage", true}, {"days to contract end", true}, {"tier", false}, {"churn probability", true}, {"risk", false}, {"action", false}}}
	type row struct {
		m     *Member
		stage int
	}
	var rows []row
	counts := make([]int, len(renewalStages))
	for i := range in.Members {
		m := &in.Members[i]
		for _, f := range m.Flags {
			if s, ok := strings.CutPrefix(f, flagRenewal); ok {
				if k := slices.Index(renewalStages, s); k >= 0 {
					rows = append(rows, row{m, k})
					counts[k]++
					break
				}
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if a.m.DaysToContractEnd != b.m.DaysToContractEnd {
			return a.m.DaysToContractEnd - b.m.DaysToContractEnd
		}
		return strings.Compare(a.m.ID, b.m.ID)
	})
	for _, r := range rows {
		m := r.m
		// The stage sorts by urgency: 7d before 60d.
		t.Rows = append(t.Rows, []Cell{{Text: m.ID, Sort: m.ID}, {Text: m.Club, Sort: m.Club},
			{Text: renewalStages[r.stage], Sort: strconv.Itoa(len(renewalStages) - r.stage), Class: "stage-" + renewalStages[r.stage]},
			intCell(m.DaysToContractEnd), tierCell(m.Tier), probCell(in, m.ChurnProbability), riskCell(in, m.ChurnProbability),
			{Text: m.Action.String(), Sort: m.Action.String()}})
	}
	return t, counts
}

func atRiskTable(in *Input, n int) *Table {
	t := &Table{ID: "atrisk", Title: "Members most at risk", Filename: "at-risk-" + in.Club + "-" + in.Month + ".csv",
		Note: fmt.Sprintf("The %d members with the highest churn probability. Reasons: the model's three largest contributions (positive raises the risk).", n),
		Columns: []Column{{"rank", true}, {"member", false}, {"club", false}, {"tier", false}, {"churn probability", true}, {"risk", false},
			{"days absent", true}, {"flags", false}, {"reasons", false}, {"recommended action", false}}}
	ms := make([]*Member, len(in.Members))
	for i := range in.Members {
		ms[i] = &in.Members[i]
	}
	slices.SortStableFunc(ms, func(a, b *Member) int {
		if a.ChurnProbability != b.ChurnProbability {
			if a.ChurnProbability > b.ChurnProbability {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i, m := range ms[:min(n, len(ms))] {
		var rs []string
		for _, r := range m.Reasons {
			rs = append(rs, fmt.Sprintf("%s (%+.2f)", r.Description, r.Contribution))
		}
		rtext := strings.Join(rs, "; ")
		flags := strings.Join(m.Flags, " ")
		t.Rows = append(t.Rows, []Cell{intCell(i + 1), {Text: m.ID, Sort: m.ID}, {Text: m.Club, Sort: m.Club}, tierCell(m.Tier),
			probCell(in, m.ChurnProbability), riskCell(in, m.ChurnProbability), intCell(m.DaysAbsent),
			{Text: flags, Sort: flags}, {Text: rtext, Sort: rtext}, {Text: m.Action.String(), Sort: m.Action.String()}})
	}
	return t
}

func modelTable(in *Input) *Table {
	t := &Table{ID: "model", Title: "Model metrics", Filename: "model-metrics.csv",
		Columns: []Column{{"metric", false}, {"value", true}}}
	keys := make([]string, 0, len(in.Model.Metrics))
	for k := range in.Model.Metrics {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		x := in.Model.Metrics[k]
		s := strconv.FormatFloat(x, 'g', 4, 64)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			s = "n/a"
		}
		t.Rows = append(t.Rows, []Cell{{Text: k, Sort: k}, {Text: s, Sort: s}})
	}
	return t
}
