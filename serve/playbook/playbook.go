package playbook

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	"go.yaml.in/yaml/v3"

	"retain/datasets/yamlconf"
	"retain/features"
)

// MaxBytes bounds the size of a playbook file.
const MaxBytes = 1 << 20

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the name of the embedded default playbook in messages.
const DefaultName = "default playbook (embedded)"

var defaultPlaybook = sync.OnceValue(func() *Playbook {
	p, err := Parse(defaultYAML, DefaultName)
	if err != nil {
		panic(err) // TestDefault keeps this from happening
	}
	return p
})

// Default returns the embedded default playbook (default.yaml in this
// package's source): a coach callback for the coach_callback_90d flag, a
// renewal reminder at the stage of the renewal_reminder_* flag, and for a
// member at high risk a retention offer by features tier.
func Default() *Playbook { return defaultPlaybook() }

// DefaultSource returns the text of the default playbook, a starting
// point for an operator's own.
func DefaultSource() []byte { return bytes.Clone(defaultYAML) }

// A Playbook is a parsed, checked playbook. It is immutable and safe for
// concurrent use.
type Playbook struct {
	name     string
	digest   string
	currency string
	bands    []Band
	offers   *offerTable
	rules    []rule
}

// Band is a named range of trailing 12-month spend, in major units:
// From <= spend < Below. The first band has From -Inf and the last Below
// +Inf, so every spend, a negative one after refunds included, is in
// exactly one band.
type Band struct {
	Name        string
	From, Below float64
}

// Name returns the playbook's file name as given to Parse.
func (p *Playbook) Name() string { return p.name }

// Digest returns the first 12 hex digits of the SHA-256 of the playbook
// file, to tell versions apart in logs.
func (p *Playbook) Digest() string { return p.digest }

// Currency returns the playbook's ISO 4217 currency code.
func (p *Playbook) Currency() string { return p.currency }

// Bands returns the spend bands, lowest first; nil when the playbook has
// none.
func (p *Playbook) Bands() []Band { return slices.Clone(p.bands) }

// Rules returns the rule names in evaluation order.
func (p *Playbook) Rules() []string {
	out := make([]string, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.name
	}
	return out
}

// Error is a problem in a playbook file: the file, the line (0 when
// unknown) and the field, e.g. rules[2].when.flags[0].
type Error struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *Error) Error() string {
	return "playbook " + yamlconf.Where(e.File, e.Line, e.Field) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads and checks the playbook file at path.
func Load(path string) (*Playbook, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("playbook: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("playbook: read %s: %w", path, err)
	}
	return Parse(data, path)
}

// The file format; docs/playbook.md documents every field. Parse checks
// the YAML tree against these types before decoding it, so that an
// unknown field or a value of the wrong kind is reported with its line and
// path.
type fileYAML struct {
	Version    int         `yaml:"version"`
	Currency   string      `yaml:"currency"`
	SpendBands []bandYAML  `yaml:"spend_bands"`
	Offers     *offersYAML `yaml:"offers"`
	Rules      []ruleYAML  `yaml:"rules"`
}

type bandYAML struct {
	Name  string   `yaml:"name"`
	From  *float64 `yaml:"from"`
	Below *float64 `yaml:"below"`
}

type offersYAML struct {
	By   string            `yaml:"by"`
	Text map[string]string `yaml:"text"`
}

type ruleYAML struct {
	Name   string      `yaml:"name"`
	When   *whenYAML   `yaml:"when"`
	Action *actionYAML `yaml:"action"`
}

type whenYAML struct {
	Flags             []string   `yaml:"flags"`
	AnyFlags          []string   `yaml:"any_flags"`
	NoFlags           []string   `yaml:"no_flags"`
	Risk              []string   `yaml:"risk"`
	Churn             *rangeYAML `yaml:"churn"`
	Tier              []string   `yaml:"tier"`
	Band              []string   `yaml:"band"`
	Spend             *rangeYAML `yaml:"spend"`
	DaysToContractEnd *rangeYAML `yaml:"days_to_contract_end"`
	DaysSinceVisit    *rangeYAML `yaml:"days_since_visit"`
}

type rangeYAML struct {
	AtLeast *float64 `yaml:"at_least"`
	Above   *float64 `yaml:"above"`
	AtMost  *float64 `yaml:"at_most"`
	Below   *float64 `yaml:"below"`
}

type actionYAML struct {
	Kind      string `yaml:"kind"`
	Stage     string `yaml:"stage"`
	OfferText string `yaml:"offer_text"`
}

// Offer keys.
const (
	ByTier      = "tier"
	BySpendBand = "spend_band"
)

// KindNone is the action kind of a rule that stops the evaluation with no
// action.
const KindNone = "none"

// Risk levels, as the server names them.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

var riskLevels = []string{RiskLow, RiskMedium, RiskHigh}

// tiers are the features tier names, lowest first.
var tiers = []string{features.TierPotential.String(), features.TierActive.String(), features.TierCore.String()}

type offerTable struct {
	byBand bool
	text   map[string]*text // by tier or band name
}

// rng is a range of numbers; an unset bound is infinite.
type rng struct {
	set            bool
	lo, hi         float64
	loOpen, hiOpen bool
}

func (r *rng) contains(x float64) bool {
	if !r.set {
		return true
	}
	if x < r.lo || r.loOpen && x == r.lo {
		return false
	}
	return !(x > r.hi || r.hiOpen && x == r.hi)
}

type rule struct {
	name                        string
	allFlags, anyFlags, noFlags features.Flags
	risk                        []string // nil = any
	tiers                       []features.Tier
	bands                       []int // indices in Playbook.bands
	churn, spend, toEnd, absent rng
	always                      bool // no condition at all
	kind                        string
	stage, offer                *text
}

// text is a stage or offer text, with {{.Field}} placeholders of data.
type text struct {
	src  string
	tmpl *template.Template // nil: no placeholder
	uses map[string]bool
}

// data are the fields of the placeholders; docs/playbook.md lists them.
type data struct {
	Tier              string
	Band              string
	Offer             string
	Risk              string
	ChurnPercent      string
	Spend             string
	Currency          string
	DaysToContractEnd int
	DaysSinceVisit    int
	TenureDays        int
	RenewalStage      string
	RenewalDays       string
}

// placeholders are the field names of data.
var placeholders = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[data]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	return m
}()

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// maxTextBytes bounds a stage or offer text.
const maxTextBytes = 4096

// Parse parses and checks a playbook; name is the file name used in
// errors. Every error is an *Error.
func Parse(src []byte, name string) (p *Playbook, err error) {
	defer func() {
		// The YAML decoder is well tested, but a playbook is operator
		// input: never crash on one.
		if r := recover(); r != nil {
			p, err = nil, &Error{File: name, Err: fmt.Errorf("malformed YAML: %v", r)}
		}
	}()
	if len(src) > MaxBytes {
		return nil, &Error{File: name, Err: fmt.Errorf("larger than %d bytes", MaxBytes)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, &Error{File: name, Line: yamlconf.ErrLine(err), Err: errors.New(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: name, Err: errors.New("empty playbook")}
	}
	doc := root.Content[0]
	c := &checker{file: name, root: doc}
	if err := c.schema(doc, reflect.TypeFor[fileYAML](), nil); err != nil {
		return nil, err
	}
	var f fileYAML
	if err := doc.Decode(&f); err != nil {
		return nil, &Error{File: name, Line: yamlconf.ErrLine(err), Err: errors.New(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	sum := sha256.Sum256(src)
	p = &Playbook{name: name, digest: hex.EncodeToString(sum[:6])}
	if err := c.build(&f, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checker checks one playbook file.
type checker struct {
	file string
	root *yaml.Node
}

func (c *checker) errAt(path []any, format string, args ...any) error {
	return &Error{File: c.file, Line: yamlconf.Line(c.root, path), Field: yamlconf.Path(path), Err: fmt.Errorf(format, args...)}
}

// schema checks the YAML tree n against the Go type t: known fields only,
// and scalars of the right kind.
func (c *checker) schema(n *yaml.Node, t reflect.Type, path []any) error {
	n = yamlconf.Deref(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // an empty value: the field's zero value
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	at := func(format string, args ...any) error {
		return &Error{File: c.file, Line: n.Line, Field: yamlconf.Path(path), Err: fmt.Errorf(format, args...)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return at("want a mapping of %s", strings.Join(yamlFields(t), ", "))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := yamlconf.Deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return at("a key that is not a plain name")
			}
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				p := path
				if len(p) == 0 {
					p = nil
				}
				return &Error{File: c.file, Line: k.Line, Field: yamlconf.Path(yamlconf.With(p, k.Value)),
					Err: fmt.Errorf("unknown field %q (want one of %s)", k.Value, strings.Join(yamlFields(t), ", "))}
			}
			if err := c.schema(n.Content[i+1], f.Type, yamlconf.With(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return at("want a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := yamlconf.Deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return at("a key that is not a plain name")
			}
			if err := c.schema(n.Content[i+1], t.Elem(), yamlconf.With(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return at("want a list")
		}
		for i, e := range n.Content {
			if err := c.schema(e, t.Elem(), yamlconf.With(path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return at("want a string")
		}
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
			return at("want a number, got %s", describe(n))
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return at("want a whole number, got %s", describe(n))
		}
	default:
		return at("internal error: no schema for %v", t)
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func yamlFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		out = append(out, t.Field(i).Tag.Get("yaml"))
	}
	return out
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("yaml") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// build checks the decoded file f and fills p.
func (c *checker) build(f *fileYAML, p *Playbook) error {
	if f.Version != 1 {
		return c.errAt([]any{"version"}, "want 1, the only version of the format, got %d", f.Version)
	}
	if !currencyRE.MatchString(f.Currency) {
		return c.errAt([]any{"currency"}, "want a three-letter ISO 4217 code such as EUR or USD, got %q", f.Currency)
	}
	p.currency = f.Currency
	if err := c.buildBands(f.SpendBands, p); err != nil {
		return err
	}
	if f.Offers != nil {
		if err := c.buildOffers(f.Offers, p); err != nil {
			return err
		}
	}
	if len(f.Rules) == 0 {
		return c.errAt([]any{"rules"}, "no rules: give at least one (a rule with kind %q gives no action)", KindNone)
	}
	seen := map[string]int{}
	for i := range f.Rules {
		path := []any{"rules", i}
		r, err := c.buildRule(&f.Rules[i], p, path)
		if err != nil {
			return err
		}
		if j, dup := seen[r.name]; dup {
			return c.errAt(yamlconf.With(path, "name"), "rule %q is also rules[%d]", r.name, j)
		}
		seen[r.name] = i
		if i > 0 && p.rules[i-1].always {
			return c.errAt(path, "unreachable: rule %q before it has no condition and matches every member", p.rules[i-1].name)
		}
		p.rules = append(p.rules, r)
	}
	return nil
}

func checkName(what, s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%s %q: want a lower-case name of letters, digits and _ (1 to 64, starting with a letter)", what, s)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func (c *checker) buildBands(bs []bandYAML, p *Playbook) error {
	for i := range bs {
		b := &bs[i]
		path := []any{"spend_bands", i}
		if err := checkName("name", b.Name); err != nil {
			return c.errAt(yamlconf.With(path, "name"), "%v", err)
		}
		for j := range i {
			if bs[j].Name == b.Name {
				return c.errAt(yamlconf.With(path, "name"), "band %q is also spend_bands[%d]", b.Name, j)
			}
		}
		for _, v := range []struct {
			key string
			x   *float64
		}{{"from", b.From}, {"below", b.Below}} {
			if v.x != nil && !finite(*v.x) {
				return c.errAt(yamlconf.With(path, v.key), "%v is not a finite amount", *v.x)
			}
		}
		band := Band{Name: b.Name, From: math.Inf(-1), Below: math.Inf(1)}
		switch {
		case i == 0 && b.From != nil:
			return c.errAt(yamlconf.With(path, "from"), "the first band has no lower bound: it takes every spend below the next band, refunds included (remove from)")
		case i > 0 && b.From == nil:
			return c.errAt(path, "band %q needs from (every band but the first)", b.Name)
		case i < len(bs)-1 && b.Below == nil:
			return c.errAt(path, "band %q needs below (every band but the last)", b.Name)
		case i == len(bs)-1 && b.Below != nil:
			return c.errAt(yamlconf.With(path, "below"), "the last band has no upper bound: it takes every spend from its from up (remove below)")
		}
		if b.From != nil {
			band.From = *b.From
		}
		if b.Below != nil {
			band.Below = *b.Below
		}
		if band.From >= band.Below {
			return c.errAt(path, "band %q is empty: from %v is not below %v", b.Name, band.From, band.Below)
		}
		if i > 0 {
			prev := p.bands[i-1]
			switch {
			case band.From < prev.From:
				return c.errAt(yamlconf.With(path, "from"), "bands are not in ascending order: %q from %v comes after %q from %v", b.Name, band.From, prev.Name, prev.From)
			case band.From < prev.Below:
				return c.errAt(yamlconf.With(path, "from"), "band %q overlaps band %q: it starts at %v, %q runs below %v", b.Name, prev.Name, band.From, prev.Name, prev.Below)
			case band.From > prev.Below:
				return c.errAt(yamlconf.With(path, "from"), "gap between bands %q and %q: a spend from %v and below %v is in no band", prev.Name, b.Name, prev.Below, band.From)
			}
		}
		p.bands = append(p.bands, band)
	}
	return nil
}

func (c *checker) buildOffers(o *offersYAML, p *Playbook) error {
	path := []any{"offers"}
	var keys []string
	switch o.By {
	case ByTier:
		keys = tiers
	case BySpendBand:
		if len(p.bands) == 0 {
			return c.errAt(yamlconf.With(path, "by"), "offers by %s need spend_bands", BySpendBand)
		}
		for _, b := range p.bands {
			keys = append(keys, b.Name)
		}
	default:
		return c.errAt(yamlconf.With(path, "by"), "want %s (the member's features tier: %s) or %s (the spend_bands), got %q",
			ByTier, strings.Join(tiers, ", "), BySpendBand, o.By)
	}
	t := &offerTable{byBand: o.By == BySpendBand, text: map[string]*text{}}
	for _, k := range keys {
		if _, ok := o.Text[k]; !ok {
			return c.errAt(yamlconf.With(path, "text"), "no offer for %q: want one for each of %s", k, strings.Join(keys, ", "))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Text)) {
		if !slices.Contains(keys, k) {
			return c.errAt(yamlconf.With(path, "text", k), "%q is not a %s: want %s", k, strings.ReplaceAll(o.By, "_", " "), strings.Join(keys, ", "))
		}
		tx, err := c.parseText(o.Text[k], yamlconf.With(path, "text", k), p, false)
		if err != nil {
			return err
		}
		t.text[k] = tx
	}
	p.offers = t
	return nil
}

// parseText parses a stage or offer text. Only {{.Field}} placeholders of
// data are allowed, so that executing the text cannot fail; offer
// reports whether {{.Offer}} is allowed (not in the offers themselves).
func (c *checker) parseText(src string, path []any, p *Playbook, offer bool) (*text, error) {
	if len(src) > maxTextBytes {
		return nil, c.errAt(path, "longer than %d bytes", maxTextBytes)
	}
	tx := &text{src: src, uses: map[string]bool{}}
	if !strings.Contains(src, "{{") {
		return tx, nil
	}
	t, err := template.New(yamlconf.Path(path)).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, c.errAt(path, "%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if len(t.Templates()) > 1 {
		return nil, c.errAt(path, "{{define}} and {{block}} are not allowed: use {{.Field}} placeholders only")
	}
	bad := func(n parse.Node) error {
		return c.errAt(path, "%s: only {{.Field}} placeholders are allowed, with Field one of %s", n, strings.Join(placeholderNames(), ", "))
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return tx, nil
	}
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
				return nil, bad(n)
			}
			f, ok := n.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil, bad(n)
			}
			name := f.Ident[0]
			if !placeholders[name] {
				return nil, c.errAt(path, "unknown placeholder {{.%s}}: want one of %s", name, strings.Join(placeholderNames(), ", "))
			}
			switch {
			case name == "Offer" && !offer:
				return nil, c.errAt(path, "{{.Offer}} is not allowed in an offer text")
			case name == "Offer" && p.offers == nil:
				return nil, c.errAt(path, "{{.Offer}} needs an offers section")
			case name == "Band" && len(p.bands) == 0:
				return nil, c.errAt(path, "{{.Band}} needs spend_bands")
			}
			tx.uses[name] = true
		default:
			return nil, bad(n)
		}
	}
	tx.tmpl = t
	return tx, nil
}

func placeholderNames() []string {
	out := make([]string, 0, len(placeholders))
	t := reflect.TypeFor[data]()
	for i := range t.NumField() {
		out = append(out, t.Field(i).Name)
	}
	return out
}

func (c *checker) flags(names []string, path []any) (features.Flags, error) {
	var f features.Flags
	for i, n := range names {
		var one features.Flags
		if err := one.UnmarshalText([]byte(n)); err != nil || n == "" || strings.Contains(n, ",") {
			return 0, c.errAt(yamlconf.With(path, i), "unknown flag %q: want one of %s", n, strings.Join(features.FlagNames(), ", "))
		}
		f |= one
	}
	return f, nil
}

func (c *checker) rangeOf(r *rangeYAML, path []any, lo, hi float64) (rng, error) {
	if r == nil {
		return rng{}, nil
	}
	out := rng{set: true, lo: math.Inf(-1), hi: math.Inf(1)}
	for _, v := range []struct {
		key string
		x   *float64
	}{{"at_least", r.AtLeast}, {"above", r.Above}, {"at_most", r.AtMost}, {"below", r.Below}} {
		if v.x == nil {
			continue
		}
		if !finite(*v.x) || *v.x < lo || *v.x > hi {
			return rng{}, c.errAt(yamlconf.With(path, v.key), "%v is outside [%v, %v]", *v.x, lo, hi)
		}
	}
	switch {
	case r.AtLeast != nil && r.Above != nil:
		return rng{}, c.errAt(path, "give at_least or above, not both")
	case r.AtMost != nil && r.Below != nil:
		return rng{}, c.errAt(path, "give at_most or below, not both")
	case r.AtLeast == nil && r.Above == nil && r.AtMost == nil && r.Below == nil:
		return rng{}, c.errAt(path, "an empty range: give at_least or above, and/or at_most or below")
	}
	if r.AtLeast != nil {
		out.lo = *r.AtLeast
	}
	if r.Above != nil {
		out.lo, out.loOpen = *r.Above, true
	}
	if r.AtMost != nil {
		out.hi = *r.AtMost
	}
	if r.Below != nil {
		out.hi, out.hiOpen = *r.Below, true
	}
	if out.lo > out.hi || out.lo == out.hi && (out.loOpen || out.hiOpen) {
		return rng{}, c.errAt(path, "no number is in this range")
	}
	return out, nil
}

func (c *checker) buildRule(ry *ruleYAML, p *Playbook, path []any) (rule, error) {
	var r rule
	if err := checkName("name", ry.Name); err != nil {
		return r, c.errAt(yamlconf.With(path, "name"), "%v", err)
	}
	r.name = ry.Name
	w := ry.When
	r.always = w == nil || reflect.ValueOf(*w).IsZero()
	if w == nil {
		w = &whenYAML{}
	}
	wp := yamlconf.With(path, "when")
	var err error
	if r.allFlags, err = c.flags(w.Flags, yamlconf.With(wp, "flags")); err != nil {
		return r, err
	}
	if r.anyFlags, err = c.flags(w.AnyFlags, yamlconf.With(wp, "any_flags")); err != nil {
		return r, err
	}
	if r.noFlags, err = c.flags(w.NoFlags, yamlconf.With(wp, "no_flags")); err != nil {
		return r, err
	}
	if both := r.allFlags & r.noFlags; both != 0 {
		return r, c.errAt(yamlconf.With(wp, "no_flags"), "never matches: %s also in flags", both)
	}
	if r.anyFlags != 0 && r.anyFlags&^r.noFlags == 0 {
		return r, c.errAt(yamlconf.With(wp, "any_flags"), "never matches: every flag of any_flags is in no_flags")
	}
	for i, s := range w.Risk {
		if !slices.Contains(riskLevels, s) {
			return r, c.errAt(yamlconf.With(wp, "risk", i), "unknown risk level %q: want %s", s, strings.Join(riskLevels, ", "))
		}
	}
	if w.Risk != nil && len(w.Risk) == 0 {
		return r, c.errAt(yamlconf.With(wp, "risk"), "an empty list never matches")
	}
	r.risk = w.Risk
	for i, s := range w.Tier {
		var t features.Tier
		if err := t.UnmarshalText([]byte(s)); err != nil {
			return r, c.errAt(yamlconf.With(wp, "tier", i), "unknown tier %q: want %s", s, strings.Join(tiers, ", "))
		}
		r.tiers = append(r.tiers, t)
	}
	if w.Tier != nil && len(w.Tier) == 0 {
		return r, c.errAt(yamlconf.With(wp, "tier"), "an empty list never matches")
	}
	for i, s := range w.Band {
		j := slices.IndexFunc(p.bands, func(b Band) bool { return b.Name == s })
		if j < 0 {
			if len(p.bands) == 0 {
				return r, c.errAt(yamlconf.With(wp, "band", i), "band %q: the playbook has no spend_bands", s)
			}
			names := make([]string, len(p.bands))
			for k, b := range p.bands {
				names[k] = b.Name
			}
			return r, c.errAt(yamlconf.With(wp, "band", i), "unknown band %q: want one of %s", s, strings.Join(names, ", "))
		}
		r.bands = append(r.bands, j)
	}
	if w.Band != nil && len(w.Band) == 0 {
		return r, c.errAt(yamlconf.With(wp, "band"), "an empty list never matches")
	}
	inf := math.Inf(1)
	if r.churn, err = c.rangeOf(w.Churn, yamlconf.With(wp, "churn"), 0, 1); err != nil {
		return r, err
	}
	if r.spend, err = c.rangeOf(w.Spend, yamlconf.With(wp, "spend"), -inf, inf); err != nil {
		return r, err
	}
	if r.toEnd, err = c.rangeOf(w.DaysToContractEnd, yamlconf.With(wp, "days_to_contract_end"), -inf, inf); err != nil {
		return r, err
	}
	if r.absent, err = c.rangeOf(w.DaysSinceVisit, yamlconf.With(wp, "days_since_visit"), 0, inf); err != nil {
		return r, err
	}

	ap := yamlconf.With(path, "action")
	a := ry.Action
	if a == nil {
		return r, c.errAt(path, "rule %q has no action", r.name)
	}
	if err := checkName("kind", a.Kind); err != nil {
		return r, c.errAt(yamlconf.With(ap, "kind"), "%v", err)
	}
	r.kind = a.Kind
	if a.Kind == KindNone && (a.Stage != "" || a.OfferText != "") {
		return r, c.errAt(ap, "kind %q gives no action: remove stage and offer_text", KindNone)
	}
	if r.stage, err = c.parseText(a.Stage, yamlconf.With(ap, "stage"), p, true); err != nil {
		return r, err
	}
	if r.offer, err = c.parseText(a.OfferText, yamlconf.With(ap, "offer_text"), p, true); err != nil {
		return r, err
	}
	return r, nil
}

// Facts are what a playbook knows about one member at one instant.
type Facts struct {
	// Indicators are the member's indicators (package features): flags,
	// tier, trailing 52-week spend in minor units (Monetary), days to the
	// contract's end, days since the last visit, tenure.
	Indicators *features.Indicators
	// ChurnProbability is the model's churn probability, in [0, 1].
	ChurnProbability float64
	// Risk is the risk level of ChurnProbability: RiskLow, RiskMedium or
	// RiskHigh, by the server's thresholds.
	Risk string
	// MinorUnits is the number of decimals of the data's currency
	// (features.Config.Values.MinorUnits): a Monetary of 4900 is 49.00
	// with 2.
	MinorUnits int
	// ReminderDays are the days of the renewal reminder stages
	// (features.FlagConfig.ReminderDays), for {{.RenewalDays}}; nil takes
	// the days from the flag's name (renewal_reminder_30d: 30).
	ReminderDays []int
}

// Action is the outcome of a playbook: the action of the first rule that
// matched. Kind is "" when no rule matched or the rule's kind is "none";
// Rule names the rule that matched, "" when none did.
type Action struct {
	Kind, Stage, OfferText string
	Rule                   string
}

// renewalFlags are the renewal reminder flags, loosest stage first, as in
// features.FlagConfig.ReminderDays.
var renewalFlags = []features.Flags{features.FlagRenewal60, features.FlagRenewal30, features.FlagRenewal15, features.FlagRenewal7}

// Evaluate returns the action of the first rule whose conditions all hold
// for f; the zero Action when none does.
func (p *Playbook) Evaluate(f *Facts) Action {
	in := f.Indicators
	spend := float64(in.Monetary) / math.Pow10(f.MinorUnits)
	band := -1
	for i, b := range p.bands {
		if spend >= b.From && spend < b.Below {
			band = i
			break
		}
	}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(f, spend, band) {
			continue
		}
		if r.kind == KindNone {
			return Action{Rule: r.name}
		}
		d := p.data(f, spend, band)
		if r.offer.uses["Offer"] || r.stage.uses["Offer"] {
			d.Offer = p.offerOf(&d, in.Tier, band)
		}
		return Action{Kind: r.kind, Stage: r.stage.exec(&d), OfferText: r.offer.exec(&d), Rule: r.name}
	}
	return Action{}
}

func (r *rule) matches(f *Facts, spend float64, band int) bool {
	in := f.Indicators
	if in.Flags&r.allFlags != r.allFlags || in.Flags&r.noFlags != 0 {
		return false
	}
	if r.anyFlags != 0 && in.Flags&r.anyFlags == 0 {
		return false
	}
	if r.risk != nil && !slices.Contains(r.risk, f.Risk) {
		return false
	}
	if r.tiers != nil && !slices.Contains(r.tiers, in.Tier) {
		return false
	}
	if r.bands != nil && !slices.Contains(r.bands, band) {
		return false
	}
	if !r.churn.contains(f.ChurnProbability) || !r.spend.contains(spend) || !r.absent.contains(float64(in.RecencyDays)) {
		return false
	}
	if r.toEnd.set && (in.ContractOpenEnded || !r.toEnd.contains(float64(in.DaysToContractEnd))) {
		return false
	}
	return true
}

func (p *Playbook) data(f *Facts, spend float64, band int) data {
	in := f.Indicators
	d := data{
		Tier:              in.Tier.String(),
		Risk:              f.Risk,
		ChurnPercent:      strconv.FormatFloat(100*f.ChurnProbability, 'f', 0, 64) + "%",
		Spend:             FormatMoney(in.Monetary, f.MinorUnits, p.currency),
		Currency:          p.currency,
		DaysToContractEnd: in.DaysToContractEnd,
		DaysSinceVisit:    in.RecencyDays,
		TenureDays:        in.TenureDays,
	}
	if band >= 0 {
		d.Band = p.bands[band].Name
	}
	for i, fl := range renewalFlags {
		if in.Flags&fl == 0 {
			continue
		}
		name := fl.String()
		d.RenewalStage = strings.TrimPrefix(name, "renewal_reminder_")
		d.RenewalDays = strings.TrimSuffix(d.RenewalStage, "d")
		if i < len(f.ReminderDays) {
			d.RenewalDays = strconv.Itoa(f.ReminderDays[i])
		}
		break
	}
	return d
}

func (p *Playbook) offerOf(d *data, t features.Tier, band int) string {
	key := t.String()
	if p.offers.byBand {
		if band < 0 {
			return ""
		}
		key = p.bands[band].Name
	}
	tx := p.offers.text[key]
	if tx == nil {
		return ""
	}
	return tx.exec(d)
}

// exec expands the text's placeholders. The checks of parseText leave
// the template nothing that can fail: only fields of data, written to a
// strings.Builder.
func (t *text) exec(d *data) string {
	if t.tmpl == nil {
		return t.src
	}
	var b strings.Builder
	if err := t.tmpl.Execute(&b, d); err != nil {
		return t.src
	}
	return b.String()
}

// FormatMoney formats an amount in minor units with its currency code:
// FormatMoney(123450, 2, "EUR") is "EUR 1,234.50".
func FormatMoney(minor int64, minorUnits int, currency string) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	scale := uint64(1)
	for range minorUnits {
		scale *= 10
	}
	whole := strconv.FormatUint(u/scale, 10)
	var b strings.Builder
	b.WriteString(currency)
	b.WriteByte(' ')
	if neg {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if minorUnits > 0 {
		frac := strconv.FormatUint(u%scale, 10)
		b.WriteByte('.')
		b.WriteString(strings.Repeat("0", minorUnits-len(frac)))
		b.WriteString(frac)
	}
	return b.String()
}
