package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"retain/datasets"
	"retain/features"
	"retain/model"
	"retain/serve/playbook"
)

// BundleOptions tunes a BundleScorer. A nil *BundleOptions means defaults.
type BundleOptions struct {
	// Catalog looks courses up by id; NewBundleScorer calls it once with
	// the bundle's course ids, to learn each course's club. The club is
	// used to find a course at the member's home club when a predicted
	// category has none the member attended (see BundleScorer.Score).
	// Store.Courses fits. Default nil: no club information, the first
	// course of the category (by course id) is taken.
	Catalog func(ids []string) (map[string]datasets.Course, error)
	// HighRisk and MediumRisk are the churn probabilities from which the
	// playbook's risk level is high and medium (its `risk` condition). Set
	// them to the server's Options.Risk.High and Medium. Defaults 0.6 and
	// 0.3, the server's defaults.
	HighRisk, MediumRisk float64
	// Playbook gives the recommended action (docs/playbook.md). Default
	// nil: playbook.Default(), a coach callback for coach_callback_90d, a
	// renewal reminder at the renewal_reminder_* stage, and at high risk
	// the retention offer of the member's tier.
	Playbook *playbook.Playbook
}

// attributionWeeks is the number of most recent weeks that occlusion
// replaces (see BundleScorer.Score).
const attributionWeeks = 8

// maxReasons is the number of reasons a Score carries.
const maxReasons = 3

// BundleScorer is the Scorer of a model bundle (package model): features
// by package features, with the same code as training, and the bundle's
// network. It is safe for concurrent use.
type BundleScorer struct {
	b    *model.Bundle
	in   model.Inputs
	fz   *features.Featurizer
	info ModelInfo

	// The action playbook and what it needs beyond the indicators.
	risk         RiskThresholds // from BundleOptions
	pb           *playbook.Playbook
	minorUnits   int
	reminderDays []int

	catCourses [][]int           // by category: indices in Spec.Courses
	courseIdx  map[string]int32  // course id -> index in Spec.Courses
	courseClub map[string]string // course id -> club, from BundleOptions.Catalog
	groups     []occlusionGroup

	ws  sync.Pool // *attribScratch, for attribute (Check)
	bws sync.Pool // *BatchWorkspace, for Score
}

var (
	_ Scorer      = (*BundleScorer)(nil)
	_ Checker     = (*BundleScorer)(nil)
	_ Recommender = (*BundleScorer)(nil)
	_ ChurnTester = (*BundleScorer)(nil)
)

// occlusionGroup is a group of features that the attribution replaces by
// their training means.
type occlusionGroup struct {
	name, what string
	up, down   string // the Description of a reason that raises, lowers the risk
	seq        []int  // columns of a sequence row
	ind        []int  // indices in Spec.Indicators
	// static holds indices in Spec.Static and staticMean their training
	// means (features.Normalizer.StaticMean), which the occluded copy
	// reads instead of the member's values.
	static     []int
	staticMean []float32
	// summary says that seq holds a column of the summary input
	// (model.SummaryColumns): occluding the group changes the static
	// input beyond its indicators.
	summary bool
}

// The occlusion groups: their sequence features (a trailing "*" matches a
// prefix), indicators and static features (the same). docs/api.md lists
// them.
var groupDefs = []struct {
	name, what     string
	seq, ind, stat []string
}{
	{"visits_last_8w", "the member's visits and classes of the last 8 weeks",
		[]string{features.SeqVisits, features.SeqOpenGym, "class_*", features.SeqMinutes},
		[]string{"frequency_52w", "visits_last", "visits_prev", "visit_trend"}, nil},
	{"spend_last_8w", "the member's spending of the last 8 weeks",
		[]string{"spend_*"},
		[]string{"monetary_52w", "ltv", "course_purchases", "course_repurchase_rate"}, nil},
	{"recency", "the member's days since the last visit",
		[]string{features.SeqDaysSinceVisit},
		[]string{"recency_days"},
		[]string{features.StaticAbsenceSurprise, features.StaticAbsenceExpected}},
	{"billing", "the member's monthly debits (a debit that is due and has not come)",
		nil, nil,
		[]string{features.StaticDebitOverdue, features.StaticDebitMissed}},
	{"contract", "the member's contract end date",
		[]string{features.SeqDaysToContractEnd, features.SeqOpenEnded},
		[]string{"days_to_contract_end", "contract_open_ended"}, nil},
	{"tenure", "the member's time since joining",
		[]string{features.SeqTenure},
		[]string{"tenure_days"}, nil},
}

func matchName(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// NewBundleScorer loads the model bundle at path, validates it and builds
// its featurizer from the bundle's feature spec.
func NewBundleScorer(path string, opts *BundleOptions) (*BundleScorer, error) {
	var o BundleOptions
	if opts != nil {
		o = *opts
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("serve: bundle: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, model.MaxBundleBytes+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("serve: bundle: read %s: %w", path, err)
	}
	if len(data) > model.MaxBundleBytes {
		return nil, fmt.Errorf("serve: bundle %s: %w: larger than %d bytes", path, model.ErrCorrupt, model.MaxBundleBytes)
	}
	b, err := model.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("serve: bundle %s: %w", path, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("serve: bundle %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return newBundleScorer(b, hex.EncodeToString(sum[:]), &o)
}

func newBundleScorer(b *model.Bundle, fingerprint string, o *BundleOptions) (*BundleScorer, error) {
	if o.HighRisk == 0 {
		o.HighRisk = 0.6
	}
	if o.MediumRisk == 0 {
		o.MediumRisk = min(0.3, o.HighRisk)
	}
	if !(o.MediumRisk > 0 && o.MediumRisk <= o.HighRisk && o.HighRisk <= 1) {
		return nil, fmt.Errorf("serve: bundle options: risk thresholds medium %v, high %v: want 0 < medium <= high <= 1", o.MediumRisk, o.HighRisk)
	}
	if o.Playbook == nil {
		o.Playbook = playbook.Default()
	}
	// Serving computes no labels: the history ends at the cutoff.
	spec := *b.Spec
	spec.Config.DataEnd = time.Time{}
	fz, err := features.NewFeaturizer(&spec)
	if err != nil {
		return nil, fmt.Errorf("serve: bundle: %w", err)
	}
	if err := b.CheckCompatible(fz.Spec()); err != nil {
		return nil, fmt.Errorf("serve: bundle: %w", err)
	}
	s := &BundleScorer{b: b, in: b.Inputs(), fz: fz, risk: RiskThresholds{Medium: o.MediumRisk, High: o.HighRisk}, pb: o.Playbook,
		minorUnits: spec.Config.Values.MinorUnits, reminderDays: slices.Clone(spec.Config.Flags.ReminderDays)}
	s.catCourses = make([][]int, len(spec.Categories))
	s.courseIdx = make(map[string]int32, len(spec.Courses))
	for i, c := range spec.CourseCategory {
		s.catCourses[c] = append(s.catCourses[c], i)
		s.courseIdx[spec.Courses[i]] = int32(i)
	}
	s.courseClub = map[string]string{}
	if o.Catalog != nil {
		known, err := o.Catalog(spec.Courses)
		if err != nil {
			return nil, fmt.Errorf("serve: bundle: course catalogue: %w", err)
		}
		for id, c := range known {
			s.courseClub[id] = c.Club
		}
	}
	for _, g := range groupDefs {
		og := occlusionGroup{name: g.name, what: g.what,
			up:   capitalize(g.what) + ": raises the churn risk compared with an average member",
			down: capitalize(g.what) + ": lowers the churn risk compared with an average member"}
		for j, n := range spec.Sequence {
			if slices.ContainsFunc(g.seq, func(p string) bool { return matchName(p, n) }) {
				og.seq = append(og.seq, j)
			}
		}
		if b.Indicators {
			for j, n := range spec.Indicators {
				if slices.Contains(g.ind, n) {
					og.ind = append(og.ind, j)
				}
			}
		}
		if n := b.Normalizer; len(n.StaticMean) == len(spec.Static) {
			for j, name := range spec.Static {
				if slices.ContainsFunc(g.stat, func(p string) bool { return matchName(p, name) }) {
					og.static = append(og.static, j)
					og.staticMean = append(og.staticMean, float32(n.StaticMean[j]))
				}
			}
		}
		if b.Summary {
			cols := model.SummaryColumns(&spec)
			og.summary = slices.ContainsFunc(og.seq, func(j int) bool { return slices.Contains(cols, j) })
		}
		if len(og.seq)+len(og.ind)+len(og.static) > 0 {
			s.groups = append(s.groups, og)
		}
	}
	names := slices.Clone(spec.Sequence)
	names = append(names, spec.Static...)
	if b.Indicators {
		names = append(names, spec.Indicators...)
	}
	if b.Summary {
		for _, j := range model.SummaryColumns(&spec) {
			names = append(names, "log1p_window_sum_"+spec.Sequence[j])
		}
	}
	s.info = ModelInfo{
		Version:      b.Created.UTC().Format("20060102T150405Z") + "-" + fingerprint[:12],
		TrainedAt:    b.Created,
		Metrics:      maps.Clone(b.Metrics),
		FeatureNames: names,
	}
	s.ws.New = func() any { return new(attribScratch) }
	s.bws.New = func() any { return new(BatchWorkspace) }
	return s, nil
}

// Info implements Scorer. The version is the bundle's creation time and
// the first 12 hex digits of the SHA-256 of the bundle file.
func (s *BundleScorer) Info() ModelInfo { return s.info }

// Bundle returns the model bundle. It must not be modified.
func (s *BundleScorer) Bundle() *model.Bundle { return s.b }

// Playbook returns the action playbook.
func (s *BundleScorer) Playbook() *playbook.Playbook { return s.pb }

// Score implements Scorer.
//
// ChurnProbability is the bundle's calibrated churn probability. Flags
// and Tier are the indicators of package features.
//
// NextCourses: the model predicts the next class category, not the
// course. Each category, most likely first, is mapped to one concrete
// course of that category: the one the member attended most (ties: the
// latest attended), else one at the member's home club (needs
// BundleOptions.Catalog), else the first by course id. Its probability is
// the category's.
//
// Reasons are an occlusion attribution: for each feature group (visits and
// classes, spend, recency, contract, tenure; see docs/api.md) the group's
// values in the last 8 weeks of the window, and its indicators, are set to
// their training means (standardised value 0) and the network is run
// again. The Contribution is the calibrated churn logit with the member's
// values minus the logit with the means: positive means the member's
// values raise the risk over an average member's. The three largest in
// magnitude are kept.
//
// Action is the playbook's (BundleOptions.Playbook): by default
// coach_callback when the coach_callback_90d flag is set, else a
// renewal_reminder with the flag's stage ("60d", ...), else, at or above
// BundleOptions.HighRisk, a retention_offer with a tier-specific offer.
//
// AlreadyChurned is features.Featurizer.AlreadyChurned: the bundle's label
// definition says the member had churned by asOf.
func (s *BundleScorer) Score(ctx context.Context, h *History, asOf time.Time) (*Score, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ex, err := s.fz.Compute((*features.History)(h), asOf)
	if err != nil {
		return nil, fmt.Errorf("serve: features: %w", err)
	}
	return s.scoreExample(ctx, h, ex)
}

// scoreExample is Score from the member's features ex.
func (s *BundleScorer) scoreExample(ctx context.Context, h *History, ex *features.Example) (*Score, error) {
	// One forward pass gives the prediction and the reasons: the
	// attribution batch's first row is the member's own (ScoreBatch does
	// the same for many members).
	ws := s.bws.Get().(*BatchWorkspace)
	defer s.bws.Put(ws)
	ms := [1]BatchMember{{Ex: ex}}
	if err := s.buildAttribution(ws, ms[:]); err != nil {
		return nil, fmt.Errorf("serve: predict: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.forwardAttribution(ws); err != nil {
		return nil, fmt.Errorf("serve: predict: %w", err)
	}
	p, reasons, err := s.memberAttribution(ws, 0)
	if err != nil {
		return nil, fmt.Errorf("serve: attribution: %w", err)
	}
	ind := &ex.Indicators
	return &Score{
		ChurnProbability: p,
		Flags:            ind.Flags.Names(),
		Tier:             ind.Tier.String(),
		NextCourses:      s.nextCourses(h, ws.dist),
		Reasons:          reasons,
		Action:           s.action(ind, p),
		AlreadyChurned:   s.fz.AlreadyChurned(ex),
	}, nil
}

// AlreadyChurned implements ChurnTester: the features alone, no forward
// pass.
func (s *BundleScorer) AlreadyChurned(ctx context.Context, h *History, asOf time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ex, err := s.fz.Compute((*features.History)(h), asOf)
	if err != nil {
		return false, fmt.Errorf("serve: features: %w", err)
	}
	return s.fz.AlreadyChurned(ex), nil
}

// Recommend implements Recommender: the features and one forward pass,
// without the attribution's extra passes.
func (s *BundleScorer) Recommend(ctx context.Context, h *History, asOf time.Time) ([]CourseProbability, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ex, err := s.fz.Compute((*features.History)(h), asOf)
	if err != nil {
		return nil, fmt.Errorf("serve: features: %w", err)
	}
	var p model.Prediction
	if err := s.b.Predict(ex, &p); err != nil {
		return nil, fmt.Errorf("serve: predict: %w", err)
	}
	return s.nextCourses(h, p.NextCategory), nil
}

// nextCourses maps the category distribution onto courses (see Score).
func (s *BundleScorer) nextCourses(h *History, dist []float64) []CourseProbability {
	return s.coursesFor(s.attended(h), h.Member.HomeClub, dist)
}

// attended is h's attendance of the bundle's courses, as
// BatchMember.Attended holds it.
func (s *BundleScorer) attended(h *History) []features.CourseUse {
	var uses []features.CourseUse
	for i := range h.Attendance {
		a := &h.Attendance[i]
		if a.CourseID == "" {
			continue
		}
		c, ok := s.courseIdx[a.CourseID]
		if !ok {
			continue
		}
		k := 0
		for k < len(uses) && uses[k].Course != c {
			k++
		}
		if k == len(uses) {
			uses = append(uses, features.CourseUse{Course: c})
		}
		uses[k].N++
		uses[k].Last = max(uses[k].Last, a.TS.UnixNano())
	}
	return uses
}

// coursesFor maps the category distribution onto courses for a member who
// attended uses and whose home club is homeClub (see Score).
func (s *BundleScorer) coursesFor(uses []features.CourseUse, homeClub string, dist []float64) []CourseProbability {
	return s.mapCourses(func(i int) (courseSeen, bool) {
		for _, u := range uses {
			if int(u.Course) == i {
				return courseSeen{n: int(u.N), last: u.Last}, true
			}
		}
		return courseSeen{}, false
	}, homeClub, dist)
}

// courseSeen is how often a member attended a course and when last (unix
// nanoseconds).
type courseSeen struct {
	n    int
	last int64
}

// mapCourses maps the category distribution onto courses (see Score);
// seen looks up the member's visits of course i of Spec.Courses.
func (s *BundleScorer) mapCourses(seen func(i int) (courseSeen, bool), homeClub string, dist []float64) []CourseProbability {
	spec := s.b.Spec
	order := make([]int, len(dist))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case dist[a] > dist[b]:
			return -1
		case dist[a] < dist[b]:
			return 1
		}
		return 0
	})
	out := make([]CourseProbability, 0, len(order))
	for _, c := range order {
		courses := s.catCourses[c]
		if len(courses) == 0 {
			continue
		}
		best, bestSeen := -1, courseSeen{}
		for _, i := range courses {
			v, ok := seen(i)
			if ok && (v.n > bestSeen.n || v.n == bestSeen.n && v.last > bestSeen.last) {
				best, bestSeen = i, v
			}
		}
		if best < 0 && homeClub != "" {
			for _, i := range courses {
				if s.courseClub[spec.Courses[i]] == homeClub {
					best = i
					break
				}
			}
		}
		if best < 0 {
			best = courses[0]
		}
		out = append(out, CourseProbability{CourseID: spec.Courses[best], Probability: dist[c]})
	}
	return out
}

// attribScratch is the memory of one attribution.
type attribScratch struct {
	batch model.Batch
	out   model.Output
	ws    model.Workspace
	raw   []float32
}

// attribute returns the top reasons of ex by occlusion (see Score) and
// the calibrated churn logits of the batch it ran: the member's, then one
// per occlusion group. It runs every row through the whole plain forward
// pass: Check holds Score's shared-prefix pass (forwardAttribution) to it.
func (s *BundleScorer) attribute(ex *features.Example) ([]Reason, []float64, error) {
	sc := s.ws.Get().(*attribScratch)
	defer s.ws.Put(sc)
	spec, n := s.b.Spec, s.b.Normalizer
	T, F := len(ex.Mask), len(spec.Sequence)
	off := len(spec.Static) // the indicators' offset in the static input
	S := s.in.StaticWidth()
	B := 1 + len(s.groups)
	bt := &sc.batch
	bt.X, bt.Mask, bt.Static = bt.X[:0], bt.Mask[:0], bt.Static[:0]
	for r := 0; r < B; r++ {
		sc.raw = append(sc.raw[:0], ex.Seq...)
		var g *occlusionGroup
		if r > 0 {
			g = &s.groups[r-1]
			for t := max(0, T-attributionWeeks); t < T; t++ {
				if ex.Mask[t] == 0 {
					continue
				}
				for _, j := range g.seq {
					sc.raw[t*F+j] = float32(n.Mean[j])
				}
			}
		}
		x0 := len(bt.X)
		bt.X = append(bt.X, sc.raw...)
		bt.Mask = append(bt.Mask, ex.Mask...)
		for t, m := range ex.Mask {
			if m != 0 {
				s.in.Row(bt.X[x0+t*F : x0+(t+1)*F])
			}
		}
		s0 := len(bt.Static)
		bt.Static = s.in.Static(bt.Static, ex.Static, &ex.Indicators, sc.raw)
		if g != nil {
			for t := max(0, T-attributionWeeks); t < T; t++ {
				if ex.Mask[t] == 0 {
					continue
				}
				for _, j := range g.seq {
					bt.X[x0+t*F+j] = 0 // exactly the standardised mean
				}
			}
			for _, j := range g.ind {
				bt.Static[s0+off+j] = 0
			}
			for k, j := range g.static {
				bt.Static[s0+j] = g.staticMean[k]
			}
		}
		if len(bt.Static)-s0 != S {
			return nil, nil, fmt.Errorf("static input of %d values, want %d", len(bt.Static)-s0, S)
		}
	}
	if err := s.b.Params.ForwardWith(&sc.ws, bt, &sc.out); err != nil {
		return nil, nil, err
	}
	logits := make([]float64, B)
	for r := range logits {
		logits[r] = s.b.Calibration.Logit(float64(sc.out.ChurnLogit[r]))
	}
	reasons, err := s.reasons(logits)
	if err != nil {
		return nil, nil, err
	}
	return reasons, logits, nil
}

// reasons returns the top reasons from the calibrated churn logits of an
// attribution: the member's, then one per occlusion group (see Score).
func (s *BundleScorer) reasons(logits []float64) ([]Reason, error) {
	reasons := make([]Reason, 0, len(s.groups))
	for i, g := range s.groups {
		c := logits[0] - logits[1+i]
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, fmt.Errorf("group %s: contribution %v", g.name, c)
		}
		d := g.up
		if c < 0 {
			d = g.down
		}
		reasons = append(reasons, Reason{Name: g.name, Description: d, Contribution: c})
	}
	slices.SortStableFunc(reasons, func(a, b Reason) int {
		switch ma, mb := math.Abs(a.Contribution), math.Abs(b.Contribution); {
		case ma > mb:
			return -1
		case ma < mb:
			return 1
		}
		return 0
	})
	return reasons[:min(maxReasons, len(reasons))], nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// action returns the recommended action of a member with indicators ind
// and churn probability p: the playbook's (see Score). It cannot fail:
// playbook.Parse checked everything that could.
func (s *BundleScorer) action(ind *features.Indicators, p float64) Action {
	a := s.pb.Evaluate(&playbook.Facts{
		Indicators: ind, ChurnProbability: p, Risk: s.risk.Level(p),
		MinorUnits: s.minorUnits, ReminderDays: s.reminderDays,
	})
	return Action{Kind: a.Kind, Stage: a.Stage, OfferText: a.OfferText}
}

// checkAsOf is the cutoff of the synthetic member of Check.
var checkAsOf = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)

// checkHistory returns the synthetic member of Check: joined 300 days
// before checkAsOf, a visit to each of the bundle's first three courses
// every 9 days for 200 days, a monthly membership fee, an annual contract
// that ends in 45 days.
func (s *BundleScorer) checkHistory() *History {
	joined := checkAsOf.AddDate(0, 0, -300)
	m := datasets.Member{
		MemberID: "retain-check", JoinedAt: joined, HomeClub: "check",
		ContractType: datasets.ContractAnnual, ContractStart: datasets.Date(joined),
		ContractEnd: datasets.Date(checkAsOf.AddDate(0, 0, 45)),
	}
	h := &History{Member: m}
	courses := s.b.Spec.Courses
	for d, k := 200, 0; d > 0; d, k = d-9, k+1 {
		c := ""
		if len(courses) > 0 {
			c = courses[k%min(3, len(courses))]
		}
		h.Attendance = append(h.Attendance, datasets.Attendance{
			EventID: fmt.Sprintf("a%d", k), MemberID: m.MemberID, TS: checkAsOf.AddDate(0, 0, -d).Add(18 * time.Hour),
			CourseID: c, DurationMin: 60, Source: datasets.SourcePOS,
		})
	}
	for mo := 9; mo > 0; mo-- {
		h.Transactions = append(h.Transactions, datasets.Transaction{
			EventID: fmt.Sprintf("t%d", mo), MemberID: m.MemberID, TS: checkAsOf.AddDate(0, -mo, 0),
			Amount: 4900, Kind: datasets.TxMembershipFee,
		})
	}
	return h
}

// Check implements Checker: it scores a synthetic member and checks that
// the prediction is well formed, that Score's probability agrees with
// Predict's, and that each row of the attribution batch as Score runs it
// (model.Params.ForwardPrefix) agrees with the plain forward pass of the
// same rows.
func (s *BundleScorer) Check(ctx context.Context) error {
	h := s.checkHistory()
	sc, err := s.Score(ctx, h, checkAsOf)
	if err != nil {
		return err
	}
	if err := checkScore(sc); err != nil {
		return fmt.Errorf("serve: bundle check: %w", err)
	}
	ex, err := s.fz.Compute((*features.History)(h), checkAsOf)
	if err != nil {
		return fmt.Errorf("serve: bundle check: %w", err)
	}
	var p model.Prediction
	if err := s.b.Predict(ex, &p); err != nil {
		return fmt.Errorf("serve: bundle check: %w", err)
	}
	var sum float64
	for _, q := range p.NextCategory {
		sum += q
	}
	if math.Abs(sum-1) > 1e-6 {
		return fmt.Errorf("serve: bundle check: next-category probabilities sum to %v", sum)
	}
	if math.Abs(sc.ChurnProbability-p.Churn) > 1e-4 {
		return fmt.Errorf("serve: bundle check: Score's churn probability %v, Predict's %v", sc.ChurnProbability, p.Churn)
	}
	_, logits, err := s.attribute(ex)
	if err != nil {
		return fmt.Errorf("serve: bundle check: %w", err)
	}
	if want := s.b.Calibration.Logit(p.ChurnLogit); math.Abs(logits[0]-want) > 1e-4*(1+math.Abs(want)) {
		return fmt.Errorf("serve: bundle check: attribution logit %v, Predict %v", logits[0], want)
	}
	ws := new(BatchWorkspace)
	if err := s.buildAttribution(ws, []BatchMember{{Ex: ex}}); err != nil {
		return fmt.Errorf("serve: bundle check: %w", err)
	}
	if err := s.forwardAttribution(ws); err != nil {
		return fmt.Errorf("serve: bundle check: %w", err)
	}
	for r, want := range logits {
		if got := s.b.Calibration.Logit(float64(ws.out.ChurnLogit[r])); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
			return fmt.Errorf("serve: bundle check: attribution row %d: logit %v by the shared-prefix pass, %v by the plain one", r, got, want)
		}
	}
	return nil
}

// LoadBundle loads the model bundle at path as a BundleScorer and makes
// it the server's Scorer (see SetScorer). A bundle that does not load or
// fails its check is refused: the current Scorer keeps serving and the
// error says why. It is LoadModel without a playbook file.
func (s *Server) LoadBundle(ctx context.Context, path string, opts *BundleOptions) error {
	files := ModelFiles{Bundle: path}
	if opts != nil {
		files.Options = *opts
	}
	return s.LoadModel(ctx, files)
}
