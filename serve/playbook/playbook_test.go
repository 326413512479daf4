package playbook

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"retain/features"
)

// legacyAction is the action code of serve/bundle.go before playbooks
// (commit ea20c62), copied verbatim but for the receiver: the reference
// that the default playbook must reproduce.
func legacyAction(ind *features.Indicators, p, high float64) (kind, stage, offer string) {
	retentionOffers := map[features.Tier]string{
		features.TierPotential: "20% off the next month, 3 free basic sessions and a reward for referring a friend",
		features.TierActive:    "30% off the next month and a quarterly perk",
		features.TierCore:      "40% off the next month and a personal concierge",
	}
	if ind.Flags&features.FlagCoachCallback != 0 {
		return "coach_callback", "", "No visit for 90 days or more: a coach should call the member."
	}
	for _, name := range ind.Flags.Names() {
		if stage, ok := strings.CutPrefix(name, "renewal_reminder_"); ok {
			return "renewal_reminder", stage, fmt.Sprintf("The contract ends within %s: remind the member to renew.", strings.TrimSuffix(stage, "d")+" days")
		}
	}
	if p >= high {
		if offer, ok := retentionOffers[ind.Tier]; ok {
			return "retention_offer", "", offer
		}
	}
	return "", "", ""
}

func riskOf(p float64) string {
	switch {
	case p >= 0.6:
		return RiskHigh
	case p >= 0.3:
		return RiskMedium
	}
	return RiskLow
}

// TestDefaultReproducesLegacy evaluates the default playbook and the old
// code on every combination of the 8 flags (at most one renewal stage, as
// features sets them), the 3 tiers and churn probabilities around the
// default thresholds 0.3 and 0.6.
func TestDefaultReproducesLegacy(t *testing.T) {
	p := Default()
	if p.Currency() != "EUR" || len(p.Rules()) != 3 {
		t.Fatalf("default: currency %s rules %v", p.Currency(), p.Rules())
	}
	renewals := features.FlagRenewal60 | features.FlagRenewal30 | features.FlagRenewal15 | features.FlagRenewal7
	n := 0
	for fl := features.Flags(0); fl < 1<<len(features.FlagNames()); fl++ {
		if (fl & renewals).Count() > 1 {
			continue
		}
		for tier := features.TierPotential; tier <= features.TierCore; tier++ {
			for _, prob := range []float64{0, 0.29, 0.3, 0.59, 0.6, 0.61, 1} {
				ind := &features.Indicators{Flags: fl, Tier: tier, DaysToContractEnd: 12, RecencyDays: 95, Monetary: 123456}
				got := p.Evaluate(&Facts{Indicators: ind, ChurnProbability: prob, Risk: riskOf(prob), MinorUnits: 2,
					ReminderDays: []int{60, 30, 15, 7}})
				k, s, o := legacyAction(ind, prob, 0.6)
				if got.Kind != k || got.Stage != s || got.OfferText != o {
					t.Fatalf("flags %v tier %v p %v: playbook %+v, legacy {%s %s %q}", fl, tier, prob, got, k, s, o)
				}
				n++
			}
		}
	}
	if n != 5*16*3*7 { // 5 renewal states (none or one of 4) x 2^4 other flags x 3 tiers x 7 probabilities
		t.Errorf("%d cases", n)
	}
}

func mustLoad(t *testing.T, path string) *Playbook {
	t.Helper()
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSpendBandsExample evaluates the example playbook
// (docs/examples/playbook-spend-bands.yaml). The expectations are the
// issue's text: 90+ days absent -> coach callback with a free trial
// class; a contract ending within 60/30/15/7 days -> reminder at that
// stage with the band's offer; bands potential < 5,000 <= growth < 20,000
// <= core, in major units (Monetary is in minor units, 2 decimals).
func TestSpendBandsExample(t *testing.T) {
	p := mustLoad(t, "../../docs/examples/playbook-spend-bands.yaml")
	if got := fmt.Sprint(p.Bands()); got != "[{potential -Inf 5000} {growth 5000 20000} {core 20000 +Inf}]" {
		t.Errorf("bands %s", got)
	}
	type tc struct {
		name  string
		in    features.Indicators
		prob  float64
		want  Action
		facts func(*Facts)
	}
	cases := []tc{
		{"absent 90 days", features.Indicators{RecencyDays: 90}, 0.1,
			Action{Kind: "coach_callback", OfferText: "No visit for 90 days: a coach calls the member 1-to-1 and offers a free trial class.", Rule: "absent_90d"}, nil},
		{"absent 89 days, low risk: nothing", features.Indicators{RecencyDays: 89}, 0.1, Action{}, nil},
		{"30-day reminder, growth band from exactly 5,000.00", features.Indicators{Flags: features.FlagRenewal30, DaysToContractEnd: 21, Monetary: 500000}, 0.1,
			Action{Kind: "renewal_reminder", Stage: "30d", Rule: "contract_ending",
				OfferText: "The contract ends in 21 days: renew early for 30% off and a quarterly perk (growth member, EUR 5,000.00 in the last 12 months)."}, nil},
		{"7-day reminder, potential band just below 5,000", features.Indicators{Flags: features.FlagRenewal7, DaysToContractEnd: 3, Monetary: 499999}, 0.9,
			Action{Kind: "renewal_reminder", Stage: "7d", Rule: "contract_ending",
				OfferText: "The contract ends in 3 days: renew early for 20% off, 3 free basic sessions and a reward for referring a friend (potential member, EUR 4,999.99 in the last 12 months)."}, nil},
		{"high risk, core from exactly 20,000", features.Indicators{Monetary: 2000000}, 0.7,
			Action{Kind: "retention_offer", OfferText: "40% off and a personal concierge", Rule: "high_risk"}, nil},
		{"high risk, refunds made the spend negative: potential", features.Indicators{Monetary: -1500}, 0.7,
			Action{Kind: "retention_offer", OfferText: "20% off, 3 free basic sessions and a reward for referring a friend", Rule: "high_risk"}, nil},
		{"new member at high risk: none, the rule before high_risk", features.Indicators{Flags: features.FlagNewMember}, 0.95,
			Action{Rule: "new_member"}, nil},
		{"medium risk and frequency drop", features.Indicators{Flags: features.FlagFrequencyDrop}, 0.456,
			Action{Kind: "check_in", OfferText: "Visits halved over the last 8 weeks (churn risk 46%): ask how training is going.", Rule: "slipping"}, nil},
		{"medium risk without the drop: nothing", features.Indicators{}, 0.456, Action{}, nil},
		{"zero minor units: 20000 is 20,000", features.Indicators{Monetary: 20000}, 0.7,
			Action{Kind: "retention_offer", OfferText: "40% off and a personal concierge", Rule: "high_risk"}, func(f *Facts) { f.MinorUnits = 0 }},
	}
	for _, c := range cases {
		f := &Facts{Indicators: &c.in, ChurnProbability: c.prob, Risk: riskOf(c.prob), MinorUnits: 2}
		if c.facts != nil {
			c.facts(f)
		}
		if got := p.Evaluate(f); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

// base is a valid playbook that the error cases edit. Its lines:
//
//	1 version, 2 currency, 3 spend_bands, 4-5 band low, 6-7 band high,
//	8 offers, 9 by, 10 text, 11 low, 12 high, 13 rules, 14 name,
//	15 when, 16 flags, 17 days, 18 action, 19 kind, 20 stage, 21 offer_text
const base = `version: 1
currency: EUR
spend_bands:
  - name: low
    below: 100
  - name: high
    from: 100
offers:
  by: spend_band
  text:
    low: "small {{.Tier}}"
    high: "big"
rules:
  - name: r1
    when:
      flags: [renewal_reminder_30d]
      days_to_contract_end: {at_most: 30}
    action:
      kind: renewal_reminder
      stage: "{{.RenewalStage}}"
      offer_text: "{{.Offer}} for {{.Band}}"
`

func edit(old, new string) string {
	if !strings.Contains(base, old) {
		panic("base lacks " + old)
	}
	return strings.Replace(base, old, new, 1)
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse([]byte(base), "base.yaml"); err != nil {
		t.Fatalf("base: %v", err)
	}
	cases := []struct {
		name, src string
		line      int
		field     string
		msg       string
	}{
		{"syntax", "version: [1", 1, "", "did not find expected"},
		{"empty", "", 0, "", "empty playbook"},
		{"not a mapping", "- 1\n", 1, "", "want a mapping"},
		{"version", edit("version: 1", "version: 2"), 1, "version", "want 1"},
		{"version type", edit("version: 1", "version: one"), 1, "version", "want a whole number"},
		{"currency", edit("currency: EUR", "currency: euro"), 2, "currency", "ISO 4217"},
		{"unknown top field", edit("currency: EUR", "currency: EUR\ncurency: EUR"), 3, "curency", `unknown field "curency"`},
		{"unknown rule field", edit("    when:", "    wen: {}\n    when:"), 15, "rules[0].wen", `unknown field "wen"`},
		{"unknown when field", edit("      flags:", "      flag: [x]\n      flags:"), 16, "rules[0].when.flag", `unknown field "flag"`},
		{"unknown range field", edit("{at_most: 30}", "{at_mots: 30}"), 17, "rules[0].when.days_to_contract_end.at_mots", "unknown field"},
		{"unknown flag", edit("[renewal_reminder_30d]", "[renewal_reminder_31d]"), 16, "rules[0].when.flags[0]", `unknown flag "renewal_reminder_31d"`},
		{"flag with a comma", edit("[renewal_reminder_30d]", `["renewal_reminder_30d,new_member_90d"]`), 16, "rules[0].when.flags[0]", "unknown flag"},
		{"flags not a list", edit("[renewal_reminder_30d]", "renewal_reminder_30d"), 16, "rules[0].when.flags", "want a list"},
		{"range not a number", edit("{at_most: 30}", "{at_most: soon}"), 17, "rules[0].when.days_to_contract_end.at_most", `want a number, got "soon"`},
		{"range both lower bounds", edit("{at_most: 30}", "{at_least: 1, above: 2}"), 17, "rules[0].when.days_to_contract_end", "not both"},
		{"range empty", edit("{at_most: 30}", "{at_least: 30, below: 30}"), 17, "rules[0].when.days_to_contract_end", "no number"},
		{"range no bound", edit("{at_most: 30}", "{}"), 17, "rules[0].when.days_to_contract_end", "empty range"},
		{"range nan", edit("{at_most: 30}", "{at_most: .nan}"), 17, "rules[0].when.days_to_contract_end.at_most", "outside"},
		{"churn above 1", edit("days_to_contract_end: {at_most: 30}", "churn: {at_least: 1.5}"), 17, "rules[0].when.churn.at_least", "outside [0, 1]"},
		{"unknown risk", edit("days_to_contract_end: {at_most: 30}", "risk: [severe]"), 17, "rules[0].when.risk[0]", `unknown risk level "severe"`},
		{"unknown tier", edit("days_to_contract_end: {at_most: 30}", "tier: [growth]"), 17, "rules[0].when.tier[0]", `unknown tier "growth"`},
		{"unknown band", edit("days_to_contract_end: {at_most: 30}", "band: [mid]"), 17, "rules[0].when.band[0]", `unknown band "mid"`},
		{"flags contradict", edit("days_to_contract_end: {at_most: 30}", "no_flags: [renewal_reminder_30d]"), 17, "rules[0].when.no_flags", "never matches"},
		{"bands unsorted", edit("  - name: low\n    below: 100\n  - name: high\n    from: 100",
			"  - name: low\n    below: 100\n  - name: mid\n    from: 100\n    below: 200\n  - name: high\n    from: 50"), 10, "spend_bands[2].from", "not in ascending order"},
		{"bands overlap", edit("  - name: high\n    from: 100", "  - name: high\n    from: 90"), 7, "spend_bands[1].from", `overlaps band "low"`},
		{"bands gap", edit("  - name: high\n    from: 100", "  - name: high\n    from: 120"), 7, "spend_bands[1].from", "gap between bands"},
		{"first band from", edit("  - name: low\n", "  - name: low\n    from: 0\n"), 5, "spend_bands[0].from", "first band has no lower bound"},
		{"last band below", edit("    from: 100\n", "    from: 100\n    below: 200\n"), 8, "spend_bands[1].below", "last band has no upper bound"},
		{"middle band without below", edit("    below: 100\n", ""), 4, "spend_bands[0]", "needs below"},
		{"band name", edit("name: low", "name: Low"), 4, "spend_bands[0].name", "lower-case"},
		{"offers by", edit("by: spend_band", "by: band"), 9, "offers.by", "want tier"},
		{"offers missing band", edit(`    high: "big"`+"\n", ""), 10, "offers.text", `no offer for "high"`},
		{"offers extra key", edit(`    high: "big"`, `    high: "big"`+"\n    mid: x"), 13, "offers.text.mid", `"mid" is not a spend band`},
		{"offers by tier wrong keys", edit("by: spend_band", "by: tier"), 10, "offers.text", `no offer for "potential"`},
		{"offer uses offer", edit(`"small {{.Tier}}"`, `"{{.Offer}}"`), 11, "offers.text.low", "not allowed in an offer"},
		{"unknown placeholder", edit("{{.Offer}} for {{.Band}}", "{{.Offer}} for {{.Name}}"), 21, "rules[0].action.offer_text", "unknown placeholder {{.Name}}"},
		{"template function", edit("{{.RenewalStage}}", `{{printf \"%s\" .RenewalStage}}`), 20, "rules[0].action.stage", "only {{.Field}} placeholders"},
		{"template if", edit("{{.RenewalStage}}", `{{if .Tier}}x{{end}}`), 20, "rules[0].action.stage", "only {{.Field}} placeholders"},
		{"template range", edit("{{.RenewalStage}}", `{{range .Tier}}x{{end}}`), 20, "rules[0].action.stage", "only {{.Field}} placeholders"},
		{"template nested field", edit("{{.RenewalStage}}", `{{.Tier.Name}}`), 20, "rules[0].action.stage", "only {{.Field}} placeholders"},
		{"template syntax", edit("{{.RenewalStage}}", `{{.RenewalStage`), 20, "rules[0].action.stage", "unclosed action"},
		{"template define", edit("{{.RenewalStage}}", `{{define \"x\"}}y{{end}}`), 20, "rules[0].action.stage", "not allowed"},
		{"kind missing", edit("      kind: renewal_reminder\n", ""), 18, "rules[0].action.kind", "kind \"\""},
		{"kind none with text", edit("kind: renewal_reminder", "kind: none"), 18, "rules[0].action", "gives no action"},
		{"no action", edit("    action:\n      kind: renewal_reminder\n      stage: \"{{.RenewalStage}}\"\n      offer_text: \"{{.Offer}} for {{.Band}}\"\n", ""), 14, "rules[0]", "has no action"},
		{"no rules", edit(base[strings.Index(base, "rules:"):], "rules: []\n"), 13, "rules", "no rules"},
		{"duplicate rule", base + "  - name: r1\n    action: {kind: none}\n", 22, "rules[1].name", `also rules[0]`},
		{"unreachable rule", base + "  - name: all\n    action: {kind: none}\n  - name: later\n    action: {kind: none}\n", 24, "rules[2]", "unreachable"},
		{"duplicate key", edit("currency: EUR", "currency: EUR\ncurrency: USD"), 3, "", "already defined"},
		{"band without spend_bands", strings.Replace(edit("days_to_contract_end: {at_most: 30}", "band: [low]"), "spend_bands:", "x_spend_bands:", 1), 3, "x_spend_bands", "unknown field"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.src), "p.yaml")
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: error %v, want a *playbook.Error", c.name, err)
			continue
		}
		if pe.File != "p.yaml" || pe.Line != c.line || pe.Field != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got line %d field %q: %v\nwant line %d field %q, message with %q", c.name, pe.Line, pe.Field, err, c.line, c.field, c.msg)
		}
	}
}

// TestJSON: the same playbook written as JSON (tab-indented) parses and
// evaluates as the YAML one.
func TestJSON(t *testing.T) {
	src := "{\n\t\"version\": 1,\n\t\"currency\": \"USD\",\n\t\"rules\": [\n\t\t{\"name\": \"late\", \"when\": {\"days_to_contract_end\": {\"below\": 0}},\n\t\t \"action\": {\"kind\": \"lapsed\", \"offer_text\": \"Lapsed {{.DaysToContractEnd}} days ago; spent {{.Spend}}.\"}}\n\t]\n}\n"
	p, err := Parse([]byte(src), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	got := p.Evaluate(&Facts{Indicators: &features.Indicators{DaysToContractEnd: -5, Monetary: -250}, MinorUnits: 2})
	if want := (Action{Kind: "lapsed", OfferText: "Lapsed -5 days ago; spent USD -2.50.", Rule: "late"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	_, err = Parse([]byte(strings.Replace(src, `"when"`, `"wen"`, 1)), "p.json")
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 5 || pe.Field != "rules[0].wen" {
		t.Errorf("unknown field in JSON: %v", err)
	}
}

// TestConditions checks each condition's boundaries on one-rule
// playbooks.
func TestConditions(t *testing.T) {
	one := func(when string) *Playbook {
		t.Helper()
		p, err := Parse([]byte("version: 1\ncurrency: EUR\nrules:\n  - name: r\n    when: "+when+"\n    action: {kind: k}\n"), "p.yaml")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		return p
	}
	type probe struct {
		in   features.Indicators
		prob float64
		want bool
	}
	cases := []struct {
		when   string
		probes []probe
	}{
		{"{days_to_contract_end: {at_least: 0, at_most: 30}}", []probe{
			{features.Indicators{DaysToContractEnd: 0}, 0, true},
			{features.Indicators{DaysToContractEnd: 30}, 0, true},
			{features.Indicators{DaysToContractEnd: 31}, 0, false},
			{features.Indicators{DaysToContractEnd: -1}, 0, false},
			// An open-ended contract has DaysToContractEnd 0 but no end.
			{features.Indicators{DaysToContractEnd: 0, ContractOpenEnded: true}, 0, false},
		}},
		{"{churn: {above: 0.5, below: 0.8}}", []probe{
			{features.Indicators{}, 0.5, false}, {features.Indicators{}, 0.51, true}, {features.Indicators{}, 0.8, false},
		}},
		{"{spend: {at_least: 575.5}}", []probe{ // Monetary is in cents
			{features.Indicators{Monetary: 57549}, 0, false}, {features.Indicators{Monetary: 57550}, 0, true},
		}},
		{"{tier: [active, core]}", []probe{
			{features.Indicators{Tier: features.TierPotential}, 0, false}, {features.Indicators{Tier: features.TierCore}, 0, true},
		}},
		{"{any_flags: [renewal_reminder_7d, new_member_90d], no_flags: [frequency_drop_50]}", []probe{
			{features.Indicators{}, 0, false},
			{features.Indicators{Flags: features.FlagNewMember}, 0, true},
			{features.Indicators{Flags: features.FlagNewMember | features.FlagFrequencyDrop}, 0, false},
		}},
		{"{flags: [coach_callback_90d, seasonal_churn_prone]}", []probe{
			{features.Indicators{Flags: features.FlagCoachCallback}, 0, false},
			{features.Indicators{Flags: features.FlagCoachCallback | features.FlagSeasonal}, 0, true},
		}},
		{"{risk: [medium, high], days_since_visit: {above: 30}}", []probe{
			{features.Indicators{RecencyDays: 31}, 0.3, true},
			{features.Indicators{RecencyDays: 30}, 0.3, false},
			{features.Indicators{RecencyDays: 31}, 0.1, false},
		}},
	}
	for _, c := range cases {
		p := one(c.when)
		for _, pr := range c.probes {
			got := p.Evaluate(&Facts{Indicators: &pr.in, ChurnProbability: pr.prob, Risk: riskOf(pr.prob), MinorUnits: 2}).Kind == "k"
			if got != pr.want {
				t.Errorf("when %s, indicators %+v p %v: matched %v, want %v", c.when, pr.in, pr.prob, got, pr.want)
			}
		}
	}
}

func TestRenewalDaysFromConfig(t *testing.T) {
	// A bundle trained with ReminderDays [90, 45, 20, 10] still names the
	// loosest stage renewal_reminder_60d; the text says 90.
	got := Default().Evaluate(&Facts{Indicators: &features.Indicators{Flags: features.FlagRenewal60}, ReminderDays: []int{90, 45, 20, 10}})
	if want := "The contract ends within 90 days: remind the member to renew."; got.OfferText != want || got.Stage != "60d" {
		t.Errorf("got %+v, want stage 60d and %q", got, want)
	}
}

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct {
		minor int64
		units int
		want  string
	}{
		{0, 2, "EUR 0.00"}, {5, 2, "EUR 0.05"}, {123450, 2, "EUR 1,234.50"}, {-250, 2, "EUR -2.50"},
		{100000000, 2, "EUR 1,000,000.00"}, {5000, 0, "EUR 5,000"}, {1234567, 3, "EUR 1,234.567"},
		{-9223372036854775808, 2, "EUR -92,233,720,368,547,758.08"},
	} {
		if got := FormatMoney(c.minor, c.units, "EUR"); got != c.want {
			t.Errorf("FormatMoney(%d, %d) = %q, want %q", c.minor, c.units, got, c.want)
		}
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("testdata/none.yaml"); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("missing file: %v", err)
	}
	big := t.TempDir() + "/big.yaml"
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("large file: %v", err)
	}
	if string(DefaultSource()) != string(defaultYAML) {
		t.Error("DefaultSource differs from the embedded file")
	}
}

// FuzzParse: no input crashes Parse; every error is an *Error naming the
// file; a playbook that parses evaluates without crashing on a spread of
// members.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	if b, err := os.ReadFile("../../docs/examples/playbook-spend-bands.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte("version: 1\ncurrency: EUR\nrules: [{name: a, action: {kind: b, offer_text: '{{.Spend}} {{.Tier}}'}}]"))
	f.Add([]byte("{\"version\": 1, \"currency\": \"EUR\", \"rules\": [{\"name\": \"a\", \"action\": {\"kind\": \"none\"}}]}"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse(src, "fuzz.yaml")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "fuzz.yaml" {
				t.Fatalf("error %v is not a *playbook.Error of fuzz.yaml", err)
			}
			return
		}
		for _, in := range []features.Indicators{
			{}, {Flags: 0xff, Tier: features.TierCore, Monetary: 1 << 40, DaysToContractEnd: -3, RecencyDays: 400},
			{Flags: features.FlagRenewal15, Tier: features.TierActive, Monetary: -77, ContractOpenEnded: true},
		} {
			for _, prob := range []float64{0, 0.5, 1} {
				p.Evaluate(&Facts{Indicators: &in, ChurnProbability: prob, Risk: riskOf(prob), MinorUnits: 2})
			}
		}
	})
}

// TestDocExample: the playbook shown in docs/playbook.md parses and gives
// the coach callback it describes.
func TestDocExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/playbook.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/playbook.md has no yaml block")
	}
	p, err := Parse([]byte(src), "docs/playbook.md")
	if err != nil {
		t.Fatal(err)
	}
	got := p.Evaluate(&Facts{Indicators: &features.Indicators{RecencyDays: 120}, MinorUnits: 2})
	if want := "No visit for 120 days: a coach calls 1-to-1 and offers a free trial class."; got.Kind != "coach_callback" || got.OfferText != want {
		t.Errorf("got %+v", got)
	}
}

// BenchmarkEvaluate: one evaluation of the issue example for a member who
// matches its fourth rule, with placeholders filled in.
func BenchmarkEvaluate(b *testing.B) {
	p, err := Load("../../docs/examples/playbook-spend-bands.yaml")
	if err != nil {
		b.Fatal(err)
	}
	f := &Facts{Indicators: &features.Indicators{Monetary: 750000, Tier: features.TierActive, RecencyDays: 12}, ChurnProbability: 0.7, Risk: RiskHigh, MinorUnits: 2}
	for b.Loop() {
		if p.Evaluate(f).Kind != "retention_offer" {
			b.Fatal("wrong rule")
		}
	}
}
