package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"retain/features"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixture is a hand-made club: three months of KPIs and six members whose
// numbers the tests below work out by hand. Member E's id holds markup, a
// quote and a comma, to check escaping and CSV quoting.
func fixture() *Input {
	return &Input{
		Club: "north", Month: "2025-03",
		AsOf:      time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC),
		DataStart: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		DataEnd:   time.Date(2025, 4, 14, 0, 0, 0, 0, time.UTC),
		Model: Model{Version: "20250101T000000Z-abcdef012345", TrainedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			Metrics: map[string]float64{"val_churn_auc": 0.8123, "val_churn_pr_auc": 0.4567, "val_logloss": 0.3}},
		Risk:           RiskThresholds{Medium: 0.3, High: 0.6},
		RenewalRateMin: 0.85, ActiveShareMin: 0.70,
		Months: []features.MonthKPI{
			// 9/10 = 90% renewed, 80/100 = 80% active: passes both.
			{Month: "2025-01", Club: "north", Due: 10, Renewed: 9, RenewalRate: 0.9, Enrolled: 100, Active: 80, ActiveShare: 0.8, Departures: 5, ChurnRate: 0.05},
			// 6/8 = 75% < 85%, 65/100 = 65% < 70%: fails both.
			{Month: "2025-02", Club: "north", Due: 8, Renewed: 6, RenewalRate: 0.75, Enrolled: 100, Active: 65, ActiveShare: 0.65, Departures: 3, ChurnRate: 0.03,
				Flags: []string{features.KPIRenewalRateLow, features.KPIActiveShareLow}},
			// Partial; a repurchase flag alone does not make a failing month.
			{Month: "2025-03", Club: "north", Partial: true, Due: 4, Renewed: 4, RenewalRate: 1, Enrolled: 90, Active: 72, ActiveShare: 0.8,
				Flags: []string{features.KPIRepurchaseRateLow}},
		},
		Members: []Member{
			{ID: "A", Club: "north", Tier: "core", ChurnProbability: 0.92, Flags: []string{"coach_callback_90d"}, DaysAbsent: 120,
				Reasons: []Reason{{"recency", "the member's days since the last visit", 1.5}, {"tenure", "the member's time since joining", -0.25}},
				Action:  Action{Kind: "coach_callback", OfferText: "call"}},
			{ID: "B", Club: "north", Tier: "active", ChurnProbability: 0.75, Flags: []string{"renewal_reminder_7d"}, DaysAbsent: 3, DaysToContractEnd: 5,
				Action: Action{Kind: "renewal_reminder", Stage: "7d"}},
			{ID: "C", Club: "north", Tier: "potential", ChurnProbability: 0.45, Flags: []string{"renewal_reminder_30d"}, DaysAbsent: 10, DaysToContractEnd: 25,
				Action: Action{Kind: "renewal_reminder", Stage: "30d"}},
			{ID: "D", Club: "north", Tier: "core", ChurnProbability: 0.10, DaysAbsent: 1, OpenEnded: true},
			{ID: `E<b>"x",y</b>`, Club: "north", Tier: "potential", ChurnProbability: 0.65, Flags: []string{"coach_callback_90d", "frequency_drop_50"}, DaysAbsent: 95,
				Action: Action{Kind: "coach_callback"}},
			{ID: "F", Club: "north", Tier: "active", ChurnProbability: 0.20, Flags: []string{"renewal_reminder_60d"}, DaysAbsent: 4, DaysToContractEnd: 50},
		},
	}
}

func render(t testing.TB, in *Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, in); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden compares the whole page of the fixture, charts included, with
// testdata/fixture.golden.html (go test -run TestGolden -update rewrites
// it). Rendering twice gives the same bytes.
func TestGolden(t *testing.T) {
	got := render(t, fixture())
	if again := render(t, fixture()); !bytes.Equal(got, again) {
		t.Fatal("two renderings of the same input differ")
	}
	path := filepath.Join("testdata", "fixture.golden.html")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("page differs from %s (go test -run TestGolden -update to accept):\n%s", path, firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + x + "\nwant: " + y
		}
	}
	return ""
}

// TestTables checks the lists of the fixture against the hand-worked
// orders and counts.
func TestTables(t *testing.T) {
	in := fixture()
	ts, err := Tables(in)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*Table{}
	for _, tb := range ts {
		byID[tb.ID] = tb
	}
	col := func(id string, c int) []string {
		var out []string
		for _, r := range byID[id].Rows {
			out = append(out, r[c].Text)
		}
		return out
	}
	e := `E<b>"x",y</b>`
	// KPI table: newest month first.
	if got, want := col("kpi", 0), []string{"2025-03", "2025-02", "2025-01"}; !slices.Equal(got, want) {
		t.Errorf("kpi months %v, want %v", got, want)
	}
	// Callbacks: A (120 days) before E (95 days); B, C, D, F have no flag.
	if got, want := col("callback", 0), []string{"A", e}; !slices.Equal(got, want) {
		t.Errorf("callbacks %v, want %v", got, want)
	}
	// Reminders by days to contract end: B (5, 7d), C (25, 30d), F (50, 60d).
	if got, want := col("reminders", 0), []string{"B", "C", "F"}; !slices.Equal(got, want) {
		t.Errorf("reminders %v, want %v", got, want)
	}
	if got, want := col("reminders", 2), []string{"7d", "30d", "60d"}; !slices.Equal(got, want) {
		t.Errorf("reminder stages %v, want %v", got, want)
	}
	// At risk by probability: .92 A, .75 B, .65 E, .45 C, .20 F, .10 D.
	if got, want := col("atrisk", 1), []string{"A", "B", e, "C", "F", "D"}; !slices.Equal(got, want) {
		t.Errorf("at risk %v, want %v", got, want)
	}
	// Risk at 0.3 and 0.6: A, B, E high; C medium; F, D low.
	if got, want := col("atrisk", 5), []string{"high", "high", "high", "medium", "low", "low"}; !slices.Equal(got, want) {
		t.Errorf("risk levels %v, want %v", got, want)
	}
	if got, want := byID["atrisk"].Rows[0][8].Text, "the member's days since the last visit (+1.50); the member's time since joining (-0.25)"; got != want {
		t.Errorf("reasons of A %q, want %q", got, want)
	}
	if got, want := col("model", 0), []string{"val_churn_auc", "val_churn_pr_auc", "val_logloss"}; !slices.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	// CSV: E's id is quoted and its quotes doubled (RFC 4180).
	want := "member,club,tier,days absent,churn probability,risk,action\n" +
		"A,north,core,120,92.0%,high,coach_callback: call\n" +
		`"E<b>""x"",y</b>",north,potential,95,65.0%,high,coach_callback` + "\n"
	if got := byID["callback"].CSV(); got != want {
		t.Errorf("callback CSV:\n%s\nwant:\n%s", got, want)
	}

	v, err := newView(in)
	if err != nil {
		t.Fatal(err)
	}
	// Risk x tier: high = A (core), B (active), E (potential); medium = C
	// (potential); low = D (core), F (active).
	wantCounts := [][]string{
		{"risk \\ tier", "potential", "active", "core", "total"},
		{"low", "0", "1", "1", "2"},
		{"medium", "1", "0", "0", "1"},
		{"high", "1", "1", "1", "3"},
		{"total", "2", "2", "2", "6"},
	}
	if !slices.EqualFunc(v.Counts, wantCounts, slices.Equal) {
		t.Errorf("counts %v, want %v", v.Counts, wantCounts)
	}
	// Only February misses the renewal or active-share threshold.
	if v.Failing != 1 {
		t.Errorf("failing months %d, want 1", v.Failing)
	}
}

// TestEscaping: member data is text, never markup.
func TestEscaping(t *testing.T) {
	page := string(render(t, fixture()))
	if strings.Contains(page, `E<b>`) {
		t.Error("member id written as markup")
	}
	if !strings.Contains(page, `E&lt;b&gt;&#34;x&#34;,y&lt;/b&gt;`) {
		t.Error("escaped member id not found")
	}
}

// TestSelfContained: no reference to anything outside the page.
func TestSelfContained(t *testing.T) {
	page := string(render(t, fixture()))
	for _, s := range []string{"http://", "https://", "src=", "<link", "@import", "url("} {
		if strings.Contains(strings.ReplaceAll(page, "http://www.w3.org/2000/svg", ""), s) {
			t.Errorf("page contains %q", s)
		}
	}
	if n := strings.Count(page, "<svg"); n != 5 {
		t.Errorf("%d charts, want 5", n)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Input)
		want string
	}{
		{"month", func(in *Input) { in.Month = "2025-3" }, "Month"},
		{"club", func(in *Input) { in.Club = "" }, "Club"},
		{"risk", func(in *Input) { in.Risk.High = 0.2 }, "Risk"},
		{"threshold", func(in *Input) { in.ActiveShareMin = 70 }, "KPI threshold"},
		{"probability", func(in *Input) { in.Members[2].ChurnProbability = 1.5 }, "Members[2] (C)"},
		{"tier", func(in *Input) { in.Members[0].Tier = "gold" }, `unknown tier "gold"`},
		{"future month", func(in *Input) { in.Months[2].Month = "2025-04" }, "after the month in focus"},
		{"order", func(in *Input) { in.Months[1].Month = "2025-01" }, "Months[1] (2025-01) is not after"},
	} {
		in := fixture()
		c.edit(in)
		err := Render(&bytes.Buffer{}, in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestEmpty: a club without members or KPI months still renders.
func TestEmpty(t *testing.T) {
	in := fixture()
	in.Members, in.Months = nil, nil
	page := string(render(t, in))
	if !strings.Contains(page, `<tr class="empty"><td colspan="7">none</td></tr>`) {
		t.Error("empty callback list not marked")
	}
}
