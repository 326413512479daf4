package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"retain/datasets"
	"retain/datasets/synth"
	"retain/features"
	"retain/model"
)

// EvalOptions tunes Evaluate. A nil *EvalOptions means defaults.
type EvalOptions struct {
	// History is the model's training history (from its bundle), drawn as
	// the training loss plot. Default nil: no loss plot.
	History []EpochStats
	// NextBlend is the model's next-category pool (from its bundle), for
	// the report. Default nil: none reported.
	NextBlend *model.NextBlend
	// Logistic tunes the logistic-regression baseline. Default nil:
	// LogisticOptions defaults.
	Logistic *LogisticOptions
	// MaxLogisticRows caps the training rows the logistic regression is
	// fitted on; beyond it a uniform sample (reservoir sampling with Seed)
	// is used. Default 500000.
	MaxLogisticRows int
	// Seed drives that sample. Default 0.
	Seed uint64
	// MarkovAlpha is the smoothing of the Markov chain (Markov.Alpha).
	// Default 1.
	MarkovAlpha float64
	// ModelFingerprint is the fingerprint of the training file the model
	// was trained on (model.Bundle.DataFingerprint). When set, the report
	// says whether the evaluated file is that one: the protocol evaluates
	// on the test split of the model's own training file, whose time split
	// keeps the test period out of training. Default "": not checked.
	ModelFingerprint string
	// Bootstrap is the number of member-bootstrap resamples behind
	// Report.Uncertainty (drawn with Seed). Default 0: DefaultBootstrap;
	// negative: no intervals.
	Bootstrap int
	// Compare are other models scored beside the model on the same
	// examples: each gets its rows in every table, and Uncertainty their
	// paired differences from the model. The bars stay the model's.
	// Default none; a candidate needs a model to compare with.
	Compare []Candidate
}

// MethodNames are the names of Evaluate's own methods (the model, the
// oracle and the baselines), which a Candidate's name must not take.
func MethodNames() []string {
	return []string{MethodModel, MethodOracle, MethodBaseRate, MethodRecency, MethodLogistic, MethodPopularity, MethodMostFrequent, MethodMarkov}
}

// A Candidate is a model evaluated beside the main one
// (EvalOptions.Compare).
type Candidate struct {
	// Name is its method name in the report's tables; it must differ
	// from every other method's.
	Name      string
	Predictor Predictor
	// Fingerprint is that of the training file it was trained on
	// (model.Bundle.DataFingerprint); "" when unknown.
	Fingerprint string
}

// CandidateInfo describes a candidate in a Report.
type CandidateInfo struct {
	Name        string
	Fingerprint string `json:",omitempty"`
}

// Tiers in the order of the report: highest spend first.
var reportTiers = []features.Tier{features.TierCore, features.TierActive, features.TierPotential}

// Report is the result of Evaluate: every number of the evaluation. Its
// methods write it as Markdown, JSON, a plain-text comparison table and PNG
// plots.
type Report struct {
	// Features and Truth are the files evaluated (Truth "" without ground
	// truth); Source is the training file's source description.
	Features, Truth, Source string
	// DataFingerprint is the features file's "sha256:<hex>";
	// ModelFingerprint that of the file the model was trained on, when
	// known (EvalOptions.ModelFingerprint).
	DataFingerprint, ModelFingerprint string `json:",omitempty"`
	// Label is the churn label kind and HorizonWeeks its horizon.
	Label        string
	HorizonWeeks int
	// Categories are the next-course categories, in the order of the
	// features' spec.
	Categories []string
	// TestCutoffs are the cutoffs of the test split; TrainCutoffs the
	// number of training cutoffs the baselines were fitted on.
	TestCutoffs  []time.Time
	TrainCutoffs int
	Counts       EvalCounts
	// Churn has one row per method on the churn examples, Next one per
	// method on the next-course examples: the model first (when given),
	// then the baselines, then the oracle (on its matched examples).
	Churn []ChurnResult
	Next  []NextResult
	// RecencyFlag is the binary 90-days-absent rule (RecencyDays ≥
	// RecencyFlagDays) on the churn examples.
	RecencyFlag     BinaryRule
	RecencyFlagDays int
	// Baselines describes the fitted baselines.
	Baselines BaselineFit
	// Oracle compares with the generator's ground truth; nil without one.
	Oracle *OracleReport
	// Candidates are the models compared with the model
	// (EvalOptions.Compare), in the order of their rows.
	Candidates []CandidateInfo `json:",omitempty"`
	// Bars are the acceptance bars of the model.
	Bars []Bar
	// Uncertainty has the bootstrap intervals of the main metrics and of
	// the bars' margins; nil when EvalOptions.Bootstrap is negative or no
	// test example was scored.
	Uncertainty *Uncertainty `json:",omitempty"`
	// Notes are remarks about conventions that the numbers depend on.
	Notes []string
	// History is the model's training history (EvalOptions.History).
	History []EpochPoint `json:",omitempty"`
	// NextBlend is the model's next-category pool (EvalOptions.NextBlend).
	NextBlend *model.NextBlend `json:",omitempty"`
	// Plots are the PNG files WritePlots wrote, PlotNotes what it left
	// out and why.
	Plots     []string `json:",omitempty"`
	PlotNotes []string `json:",omitempty"`

	curves evalCurves
}

// EpochPoint is one epoch of the training history in a report: the
// figures of EpochStats, with NaN written to JSON as null.
type EpochPoint struct {
	Epoch                int
	TrainLoss, ValLoss   Num
	ValChurnAUC, Seconds Num
}

func epochPoints(h []EpochStats) []EpochPoint {
	var out []EpochPoint
	for _, e := range h {
		out = append(out, EpochPoint{e.Epoch, Num(e.TrainLoss), Num(e.ValLoss), Num(e.ValChurnAUC), Num(e.Seconds)})
	}
	return out
}

// EvalCounts counts the test examples.
type EvalCounts struct {
	// Test is the number of test-split examples in the file; Excluded and
	// Censored those of them excluded and censored.
	Test, Excluded, Censored int
	// Churn is the number of churn examples (test, not excluded, not
	// censored) and ChurnPositives of them labelled 1; Next the number of
	// next-course examples (test, not excluded, with a next class).
	Churn, ChurnPositives, Next int
	// TrainChurn and TrainNext are the training-split examples the
	// baselines were fitted on (churn rows before any sampling).
	TrainChurn, TrainNext int
}

// ChurnResult is one method's churn metrics.
type ChurnResult struct {
	Method string
	// Probabilistic is false for a score that is not a probability (the
	// recency rule): no Brier, ECE or reliability curve.
	Probabilistic bool
	All           ChurnMetrics
	// Tiers are the metrics per tier: core, active, potential.
	Tiers []ChurnMetrics
	// Reliability is the reliability curve in ECEBins bins.
	Reliability []ReliabilityBin `json:",omitempty"`
}

// NextResult is one method's next-course metrics.
type NextResult struct {
	Method string
	All    RankMetrics
	Tiers  []RankMetrics
}

// BaselineFit describes the baselines fitted on the training split.
type BaselineFit struct {
	// BaseRate is the share of churn-labelled training examples with
	// churn = 1.
	BaseRate float64
	// Popularity is the next-category distribution of the training
	// split, in Categories order.
	Popularity []float64
	// MarkovAlpha is the Markov chain's smoothing.
	MarkovAlpha float64
	// LogisticFeatures name the logistic regression's inputs,
	// LogisticCoef their standardised coefficients, LogisticIntercept the
	// intercept; LogisticRows the rows fitted on, LogisticIterations the
	// Newton steps and LogisticConverged whether they converged.
	LogisticFeatures   []string
	LogisticCoef       []float64
	LogisticIntercept  float64
	LogisticL2         float64
	LogisticRows       int
	LogisticIterations int
	LogisticConverged  bool
}

// OracleReport compares with the generator's ground truth. Test examples
// are matched to truth rows by (member id, cutoff instant).
type OracleReport struct {
	// TruthRows is the number of rows in the truth file, Sims the
	// re-simulations behind each (from truth.json; 0 when unknown).
	TruthRows, Sims int
	// MissingCutoffs are test cutoffs for which the truth has no row at
	// all (a different cutoff convention would show up here).
	MissingCutoffs []time.Time `json:",omitempty"`
	// ChurnMatched churn examples have an alive truth row; ChurnNoRow have
	// no truth row; ChurnNotAlive have a row outside the truth's label
	// population (no probability). Their sum is Counts.Churn.
	ChurnMatched, ChurnNoRow, ChurnNotAlive int
	// HiddenChurned counts the matched churn examples whose member the
	// generator had already ended at the cutoff (Truth.Churned), which the
	// oracle scores 1 with certainty while the data can only hint at it
	// (the last visit lies within the 8 weeks before the cutoff), and
	// HiddenChurnedPositives how many of them are labelled churn.
	HiddenChurned, HiddenChurnedPositives int
	// Hidden breaks the model's churn ranking down by what the data can
	// show of the churners; nil without a model.
	Hidden *HiddenBreakdown `json:",omitempty"`
	// NextByClasses is every method's HR@3 on the matched next-course
	// examples by how many classes the member took in the sequence window.
	NextByClasses *ClassesBreakdown `json:",omitempty"`
	// NextMatched next-course examples have a truth row with a
	// next-category distribution; NextNoRow have no row; NextNoDist have a
	// row without a distribution (not alive, or no class in any
	// re-simulation). Their sum is Counts.Next.
	NextMatched, NextNoRow, NextNoDist int
	// Churn and Next are every method's metrics on the matched examples
	// only, so that the shares compare like with like.
	Churn []ChurnResult
	Next  []NextResult
	// OracleTies counts the matched next-course examples whose true
	// category has the same oracle probability as another category (the
	// truth's probabilities are Monte Carlo shares, so ties happen). The
	// oracle's Next row breaks them pessimistically like every method's;
	// HR3Optimistic is the oracle's HR@3 with them broken in its favour,
	// and the HR@3 bar and HR3Share use it, so that the ties never make the
	// bar easier.
	OracleTies    int
	HR3Optimistic Num
	// ChurnAUCShare is the model's ROC-AUC over the oracle's, HR3Share
	// the model's HR@3 over HR3Optimistic, both on the matched examples.
	// NaN without a model.
	ChurnAUCShare, HR3Share Num
}

// HiddenBreakdown breaks the model's churn ROC-AUC on the matched examples
// down by what the data can show of each churner: the churners the
// generator had already ended at the cutoff (hidden), by whether a monthly
// debit has visibly failed to come, and the churners still on the books.
type HiddenBreakdown struct {
	// Groups are disjoint groups of the matched churners, each ranked
	// against all matched non-churners (NonChurners of them).
	Groups      []ChurnGroup
	NonChurners int
	// IfHiddenKnown is the model's ROC-AUC on the matched examples with
	// every hidden example (Truth.Churned) scored 1: what knowing the
	// hidden state alone would add to this model.
	IfHiddenKnown Num
}

// ClassesBreakdown is the next-course HR@3 on the matched examples by the
// classes the member took in the sequence window (the class_<category>
// columns): a member's own habits show in its history only as far as it
// has one.
type ClassesBreakdown struct {
	// Methods are the next-course methods, the oracle last (its ties
	// broken in its favour, as in the HR@3 bar).
	Methods []string
	Bins    []ClassesBin
}

// ClassesBin is one bin of a ClassesBreakdown: the examples whose member
// took Lo to Hi classes (Hi < 0: no upper end) in the window.
type ClassesBin struct {
	Lo, Hi, N int
	// HR3 is each method's HR@3, in Methods order.
	HR3 []Num
}

// classBins are the bins of ClassesBreakdown.
var classBins = [][2]int{{0, 0}, {1, 5}, {6, 15}, {16, 30}, {31, 60}, {61, -1}}

// ChurnGroup is one group of churners of a HiddenBreakdown.
type ChurnGroup struct {
	Name     string
	Churners int
	// ModelAUC and OracleAUC are the ROC-AUC of the group's churners
	// against all matched non-churners.
	ModelAUC, OracleAUC Num
}

// The groups of a HiddenBreakdown. The debit split reads the static
// columns debit_missed and contract_monthly, which every checked
// features.FeatureSpec has.
const (
	GroupHiddenDebit   = "ended, a monthly debit missed"
	GroupHiddenMonthly = "ended, monthly, next debit not yet due"
	GroupHiddenOther   = "ended, other contracts"
	GroupVisible       = "not yet ended"
)

// Bar is one acceptance bar.
type Bar struct {
	Name string
	// Rule states the bar, with its constants.
	Rule string
	// Value is the model's figure, Threshold what it must reach (for ECE:
	// stay under).
	Value, Threshold Num
	// Status is PASS, FAIL or N/A (no model, or no ground truth for an
	// oracle bar).
	Status string
	// Detail gives the numbers the threshold came from.
	Detail string
}

// Bar statuses.
const (
	BarPass = "PASS"
	BarFail = "FAIL"
	BarNA   = "N/A"
)

// The bars of issue 4, measured on the test split.
const (
	BarChurnOracleShare = 0.97 // churn ROC-AUC ≥ 0.97 × oracle's
	BarChurnMargin      = 0.02 // churn ROC-AUC ≥ best baseline + 0.02
	BarECE              = 0.03 // ECE < 0.03
	BarHR3OracleShare   = 0.90 // HR@3 ≥ 0.90 × oracle's
	BarHR3Margin        = 0.05 // HR@3 ≥ best baseline + 0.05
)

// The bars' names (Bar.Name).
const (
	barChurnOracle    = "churn AUC vs oracle"
	barChurnBaselines = "churn AUC vs baselines"
	barCalibration    = "calibration"
	barHR3Oracle      = "HR@3 vs oracle"
	barHR3Baselines   = "HR@3 vs baselines"
)

// evalCurves keeps what the plots need beyond the metrics.
type evalCurves struct {
	churnMethods  []string
	churnScores   [][]float64 // per method, over the churn examples
	probabilistic []bool
	labels        []bool
	// oracle scores on the matched churn examples, and their labels.
	oracleScores []float64
	oracleLabels []bool
}

// TruthPath returns the ground-truth file of a synthetic dataset directory
// dir: dir/truth/truth.csv or dir/truth/truth.csv.gz.
func TruthPath(dir string) (string, error) {
	for _, name := range []string{synth.TruthFile, synth.TruthFile + ".gz"} {
		p := filepath.Join(dir, synth.TruthDir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("train: no ground truth in %s (want %s/%s or %s.gz)", dir, synth.TruthDir, synth.TruthFile, synth.TruthFile)
}

// Evaluate scores the test split of the training file featuresPath with the
// model m (nil: baselines and oracle only), fits the baselines on its
// training split, and, when truthPath is not "", compares with the
// generator's ground truth. Every method is measured on the same test
// examples: churn metrics on those that are neither excluded nor censored,
// next-course metrics on those that are not excluded and have a next class.
//
// The examples reach m with raw features, as read from the file; m must
// apply its own normalisation. It gets a copy, so it may modify it.
func Evaluate(ctx context.Context, featuresPath string, m Predictor, truthPath string, opts *EvalOptions) (*Report, error) {
	o := EvalOptions{MaxLogisticRows: 500000, MarkovAlpha: 1, Bootstrap: DefaultBootstrap}
	if opts != nil {
		if opts.Bootstrap != 0 {
			o.Bootstrap = opts.Bootstrap
		}
		o.History = opts.History
		o.NextBlend = opts.NextBlend
		o.Logistic = opts.Logistic
		o.Seed = opts.Seed
		o.ModelFingerprint = opts.ModelFingerprint
		o.Compare = opts.Compare
		if opts.MaxLogisticRows > 0 {
			o.MaxLogisticRows = opts.MaxLogisticRows
		}
		if opts.MarkovAlpha > 0 {
			o.MarkovAlpha = opts.MarkovAlpha
		}
	}
	if len(o.Compare) > 0 && m == nil {
		return nil, fmt.Errorf("train: %d models to compare but no model to compare them with", len(o.Compare))
	}
	taken := map[string]bool{}
	for _, name := range MethodNames() {
		taken[name] = true
	}
	for _, c := range o.Compare {
		if c.Name == "" || taken[c.Name] || c.Predictor == nil {
			return nil, fmt.Errorf("train: model to compare %q: want a predictor and a name unlike the other methods' (%q is taken or empty)", c.Name, c.Name)
		}
		taken[c.Name] = true
	}

	// Pass 1: fit the baselines on the training split.
	fr, err := features.OpenFile(featuresPath)
	if err != nil {
		return nil, err
	}
	hdr := *fr.Header()
	spec := &hdr.Spec
	layout, err := newSeqLayout(spec)
	if err != nil {
		fr.Close()
		return nil, err
	}
	fit := newBaselineFitter(layout, spec, o)
	err = eachExample(ctx, fr, func(ex *features.Example) error {
		if ex.Split == features.SplitTrain && !ex.Label.Excluded {
			fit.add(ex)
		}
		return nil
	})
	fr.Close()
	if err != nil {
		return nil, fmt.Errorf("train: read %s: %w", featuresPath, err)
	}
	bl, err := fit.fit(o)
	if err != nil {
		return nil, err
	}

	rep := &Report{
		Features: featuresPath, Truth: truthPath, Source: hdr.Source,
		Label: string(spec.Config.Label.Kind), HorizonWeeks: spec.Config.HorizonWeeks,
		Categories: slices.Clone(spec.Categories), History: epochPoints(o.History), NextBlend: o.NextBlend,
		RecencyFlagDays: spec.Config.Flags.CallbackDays,
		Baselines:       bl.info,
	}
	rep.Counts.TrainChurn, rep.Counts.TrainNext = fit.churnRows, fit.nextRows
	if rep.DataFingerprint, err = fingerprint(featuresPath); err != nil {
		return nil, err
	}
	rep.ModelFingerprint = o.ModelFingerprint
	for _, c := range o.Compare {
		rep.Candidates = append(rep.Candidates, CandidateInfo{Name: c.Name, Fingerprint: c.Fingerprint})
	}
	for i, c := range hdr.Cutoffs {
		switch hdr.Splits[i] {
		case features.SplitTest:
			rep.TestCutoffs = append(rep.TestCutoffs, c)
		case features.SplitTrain:
			rep.TrainCutoffs++
		}
	}

	var truth *truthIndex
	if truthPath != "" {
		if truth, err = loadTruth(truthPath, spec.Categories); err != nil {
			return nil, err
		}
	}

	// Pass 2: score the test split.
	fr, err = features.OpenFile(featuresPath)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	sc := newScoring(spec, layout, bl, m != nil, o.Compare, truth)
	err = eachExample(ctx, fr, func(ex *features.Example) error {
		if ex.Split != features.SplitTest {
			return nil
		}
		return sc.add(ex, m, &rep.Counts)
	})
	if err != nil {
		return nil, fmt.Errorf("train: evaluate %s: %w", featuresPath, err)
	}
	sc.summarise(rep, truth)
	rep.bars()
	if o.Bootstrap > 0 {
		sc.bootstrap(rep, o.Bootstrap, o.Seed)
	}
	rep.notes(truth)
	return rep, nil
}

// eachExample calls fn for every example of r, checking ctx now and then.
func eachExample(ctx context.Context, r *features.FileReader, fn func(*features.Example) error) error {
	var ex features.Example
	for i := 0; ; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err := r.Next(&ex)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(&ex); err != nil {
			return err
		}
	}
}

// baselines holds the fitted baselines.
type baselines struct {
	pop      Popularity
	freq     MostFrequent
	markov   Markov
	baseRate float64
	logistic *Logistic
	minor    int
	info     BaselineFit
}

// baselineFitter accumulates the training split for the baselines.
type baselineFitter struct {
	layout              seqLayout
	spec                *features.FeatureSpec
	next                []float64
	trans               [][]float64
	last                []float64
	churnRows, churnPos int
	nextRows            int
	x                   [][]float64
	y                   []bool
	max                 int
	rng                 *rand.Rand
}

func newBaselineFitter(l seqLayout, spec *features.FeatureSpec, o EvalOptions) *baselineFitter {
	k := len(spec.Categories)
	f := &baselineFitter{layout: l, spec: spec, next: make([]float64, k), trans: make([][]float64, k),
		last: make([]float64, k), max: o.MaxLogisticRows, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed))}
	for c := range f.trans {
		f.trans[c] = make([]float64, k)
	}
	return f
}

func (f *baselineFitter) add(ex *features.Example) {
	if nc := int(ex.Label.NextCategory); nc >= 0 && nc < len(f.next) {
		f.nextRows++
		f.next[nc]++
		if f.layout.lastClassWeek(ex.Seq, f.last) {
			var tot float64
			for _, v := range f.last {
				tot += v
			}
			for c, v := range f.last {
				f.trans[c][nc] += v / tot
			}
		}
	}
	if ex.Label.Censored || ex.Label.Churn < 0 {
		return
	}
	f.churnRows++
	y := ex.Label.Churn == 1
	if y {
		f.churnPos++
	}
	row := churnFeatures(&ex.Indicators, f.spec.Config.Values.MinorUnits, nil)
	// Reservoir sampling (Algorithm R) beyond f.max rows.
	if len(f.x) < f.max {
		f.x = append(f.x, row)
		f.y = append(f.y, y)
	} else if j := f.rng.IntN(f.churnRows); j < f.max {
		f.x[j], f.y[j] = row, y
	}
}

func (f *baselineFitter) fit(o EvalOptions) (*baselines, error) {
	if f.nextRows == 0 {
		return nil, errors.New("train: no training example with a next class to fit the baselines on")
	}
	b := &baselines{minor: f.spec.Config.Values.MinorUnits}
	pop := make([]float64, len(f.next))
	for k, v := range f.next {
		pop[k] = v / float64(f.nextRows)
	}
	b.pop = Popularity{P: pop}
	b.freq = MostFrequent{Pop: pop}
	b.markov = Markov{Counts: f.trans, Pop: pop, Alpha: o.MarkovAlpha}
	b.baseRate = safeRatio(f.churnPos, f.churnRows)
	lr, err := FitLogistic(f.x, f.y, o.Logistic)
	if err != nil {
		return nil, fmt.Errorf("train: logistic regression baseline: %w", err)
	}
	b.logistic = lr
	b.info = BaselineFit{
		BaseRate: b.baseRate, Popularity: pop, MarkovAlpha: o.MarkovAlpha,
		LogisticFeatures: churnFeatureNames(f.spec), LogisticCoef: lr.Coef, LogisticIntercept: lr.Intercept,
		LogisticRows: len(f.x), LogisticIterations: lr.Iterations, LogisticConverged: lr.Converged,
	}
	b.info.LogisticL2 = 1e-4
	if o.Logistic != nil && o.Logistic.L2 > 0 {
		b.info.LogisticL2 = o.Logistic.L2
	}
	return b, nil
}

// truthIndex is the ground truth keyed by member and cutoff.
type truthIndex struct {
	rows    map[truthKey]*synth.Truth
	cutoffs map[int64]bool
	n, sims int
	// perm[k] is the index in the truth's category order of the spec's
	// category k.
	perm []int
}

type truthKey struct {
	member string
	cutoff int64 // Unix seconds
}

// loadTruth reads the truth file at path and maps its categories onto
// cats.
func loadTruth(path string, cats []string) (*truthIndex, error) {
	rows, err := synth.ReadTruthFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	tc := synth.Categories()
	ti := &truthIndex{rows: make(map[truthKey]*synth.Truth, len(rows)), cutoffs: map[int64]bool{}, n: len(rows), perm: make([]int, len(cats))}
	if len(tc) != len(cats) {
		return nil, fmt.Errorf("train: truth %s has categories %v, the features %v", path, tc, cats)
	}
	for k, c := range cats {
		i := slices.Index(tc, c)
		if i < 0 {
			return nil, fmt.Errorf("train: truth %s has categories %v, the features %v: no %q", path, tc, cats, c)
		}
		ti.perm[k] = i
	}
	for i := range rows {
		t := &rows[i]
		k := truthKey{t.MemberID, t.Cutoff.Unix()}
		ti.rows[k] = t
		ti.cutoffs[k.cutoff] = true
	}
	// truth.json beside the file tells how many re-simulations there were.
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), synth.TruthMetaFile)); err == nil {
		var meta synth.TruthMeta
		if json.Unmarshal(b, &meta) == nil {
			ti.sims = meta.Sims
		}
	}
	return ti, nil
}

// scoring collects the test split's scores.
type scoring struct {
	spec   *features.FeatureSpec
	layout seqLayout
	bl     *baselines
	truth  *truthIndex
	model  bool
	// cands are the models compared with the model; their methods follow
	// the model's (slots 1 .. len(cands)).
	cands []Candidate

	// memberIDs are the distinct members of the scored examples, in order
	// of appearance; churnMem and nextMem index them per example.
	memberIDs         []string
	memberIdx         map[string]int32
	churnMem, nextMem []int32

	churnMethods  []string
	probabilistic []bool
	nextMethods   []string

	// churn examples
	labels    []bool
	churnTier []features.Tier
	scores    [][]float64 // per churn method
	oracle    []float64   // NaN when unmatched
	noRow     int
	notAlive  int
	hidden    int
	hiddenPos int
	// per churn example, with truth: its HiddenBreakdown group ("" when
	// unmatched)
	groupC []string
	// static columns of the debit split (-1 would be absent, which
	// FeatureSpec.Check rules out)
	debitCol, monthlyCol int
	recency              []bool
	// next examples
	nextClasses []int // classes in the window
	nextTier    []features.Tier
	ranks       [][]int // per next method
	oracleRank  []int   // 0 when unmatched
	oracleOpt   []int   // optimistic oracle ranks (ties in its favour), 0 when unmatched
	oracleTies  int
	nextNoRow   int
	nextNoDist  int

	clone    features.Example
	churnP   []float64 // per model slot, of the example being added
	nextRank []int
	counts   []float64
	last     []float64
	buf      []float64
	feat     []float64
	oracleKs []float64
}

func newScoring(spec *features.FeatureSpec, l seqLayout, bl *baselines, model bool, cands []Candidate, truth *truthIndex) *scoring {
	k := len(spec.Categories)
	s := &scoring{spec: spec, layout: l, bl: bl, truth: truth, model: model, cands: cands, memberIdx: map[string]int32{},
		counts: make([]float64, k), last: make([]float64, k), buf: make([]float64, k), oracleKs: make([]float64, k)}
	if model {
		s.churnMethods = append(s.churnMethods, MethodModel)
		s.probabilistic = append(s.probabilistic, true)
		s.nextMethods = append(s.nextMethods, MethodModel)
		for _, c := range cands {
			s.churnMethods = append(s.churnMethods, c.Name)
			s.probabilistic = append(s.probabilistic, true)
			s.nextMethods = append(s.nextMethods, c.Name)
		}
	}
	s.churnMethods = append(s.churnMethods, MethodLogistic, MethodRecency, MethodBaseRate)
	s.probabilistic = append(s.probabilistic, true, false, true)
	s.nextMethods = append(s.nextMethods, MethodMarkov, MethodMostFrequent, MethodPopularity)
	s.scores = make([][]float64, len(s.churnMethods))
	s.ranks = make([][]int, len(s.nextMethods))
	s.debitCol = slices.Index(spec.Static, features.StaticDebitMissed)
	s.monthlyCol = slices.Index(spec.Static, "contract_"+datasets.ContractMonthly.String())
	return s
}

// add scores one test example.
func (s *scoring) add(ex *features.Example, m Predictor, c *EvalCounts) error {
	c.Test++
	if ex.Label.Excluded {
		c.Excluded++
		return nil
	}
	if ex.Label.Censored {
		c.Censored++
	}
	isChurn := !ex.Label.Censored && ex.Label.Churn >= 0
	nc := int(ex.Label.NextCategory)
	isNext := nc >= 0
	if !isChurn && !isNext {
		return nil
	}
	if isNext && nc >= len(s.spec.Categories) {
		return fmt.Errorf("member %s at %s: next category %d of %d", ex.MemberID, ex.Cutoff.Format(time.DateOnly), nc, len(s.spec.Categories))
	}
	// Baseline inputs first: the model gets a copy, but read them before
	// anything else touches the example.
	s.layout.classCounts(ex.Seq, s.counts)
	s.layout.lastClassWeek(ex.Seq, s.last)
	s.feat = churnFeatures(&ex.Indicators, s.bl.minor, s.feat[:0])

	// The model's and the candidates' predictions, in method slots.
	nm := 0
	if m != nil {
		nm = 1 + len(s.cands)
	}
	s.churnP = s.churnP[:0]
	s.nextRank = s.nextRank[:0]
	for j := range nm {
		p, name := m, MethodModel
		if j > 0 {
			p, name = s.cands[j-1].Predictor, s.cands[j-1].Name
		}
		cloneExample(&s.clone, ex)
		churnP, next := p.Predict(&s.clone)
		if math.IsNaN(churnP) || churnP < 0 || churnP > 1 {
			return fmt.Errorf("%s: member %s at %s: churn probability %v", name, ex.MemberID, ex.Cutoff.Format(time.DateOnly), churnP)
		}
		if len(next) != len(s.spec.Categories) {
			return fmt.Errorf("%s: member %s at %s: %d next-category scores for %d categories", name, ex.MemberID, ex.Cutoff.Format(time.DateOnly), len(next), len(s.spec.Categories))
		}
		s.churnP = append(s.churnP, churnP)
		if isNext {
			s.nextRank = append(s.nextRank, Rank(next, nc))
		}
	}
	var tr *synth.Truth
	if s.truth != nil {
		tr = s.truth.rows[truthKey{ex.MemberID, ex.Cutoff.Unix()}]
	}
	tier := ex.Indicators.Tier
	mem, ok := s.memberIdx[ex.MemberID]
	if !ok {
		mem = int32(len(s.memberIDs))
		s.memberIdx[ex.MemberID] = mem
		s.memberIDs = append(s.memberIDs, ex.MemberID)
	}

	if isChurn {
		c.Churn++
		y := ex.Label.Churn == 1
		if y {
			c.ChurnPositives++
		}
		s.labels = append(s.labels, y)
		s.churnTier = append(s.churnTier, tier)
		s.churnMem = append(s.churnMem, mem)
		i := 0
		for _, p := range s.churnP {
			s.scores[i] = append(s.scores[i], p)
			i++
		}
		s.scores[i] = append(s.scores[i], s.bl.logistic.Prob(s.feat))
		s.scores[i+1] = append(s.scores[i+1], float64(ex.Indicators.RecencyDays))
		s.scores[i+2] = append(s.scores[i+2], s.bl.baseRate)
		s.recency = append(s.recency, ex.Indicators.RecencyDays >= s.spec.Config.Flags.CallbackDays)
		if s.truth != nil {
			switch {
			case tr == nil:
				s.noRow++
				s.oracle = append(s.oracle, math.NaN())
			case !tr.Alive:
				s.notAlive++
				s.oracle = append(s.oracle, math.NaN())
			default:
				s.oracle = append(s.oracle, tr.ChurnProb)
				if tr.Churned {
					s.hidden++
					if y {
						s.hiddenPos++
					}
				}
			}
			s.groupC = append(s.groupC, s.group(ex, tr))
		}
	}
	if isNext {
		c.Next++
		var classes float64
		for _, v := range s.counts {
			classes += v
		}
		s.nextClasses = append(s.nextClasses, int(classes))
		s.nextTier = append(s.nextTier, tier)
		s.nextMem = append(s.nextMem, mem)
		i := 0
		for _, r := range s.nextRank {
			s.ranks[i] = append(s.ranks[i], r)
			i++
		}
		s.bl.markov.Scores(s.last, s.buf)
		s.ranks[i] = append(s.ranks[i], Rank(s.buf, nc))
		s.bl.freq.Scores(s.counts, s.buf)
		s.ranks[i+1] = append(s.ranks[i+1], Rank(s.buf, nc))
		s.bl.pop.Scores(s.buf)
		s.ranks[i+2] = append(s.ranks[i+2], Rank(s.buf, nc))
		if s.truth != nil {
			switch {
			case tr == nil:
				s.nextNoRow++
				s.oracleRank = append(s.oracleRank, 0)
				s.oracleOpt = append(s.oracleOpt, 0)
			case tr.NextCategory == nil:
				s.nextNoDist++
				s.oracleRank = append(s.oracleRank, 0)
				s.oracleOpt = append(s.oracleOpt, 0)
			default:
				for k, j := range s.truth.perm {
					s.oracleKs[k] = tr.NextCategory[j]
				}
				r := Rank(s.oracleKs, nc)
				opt := rankOptimistic(s.oracleKs, nc)
				if opt != r {
					s.oracleTies++
				}
				s.oracleRank = append(s.oracleRank, r)
				s.oracleOpt = append(s.oracleOpt, opt)
			}
		}
	}
	return nil
}

// group names the HiddenBreakdown group of a churn example with truth row
// tr (for a churner; "" when unmatched).
func (s *scoring) group(ex *features.Example, tr *synth.Truth) string {
	switch {
	case tr == nil || !tr.Alive:
		return ""
	case !tr.Churned:
		return GroupVisible
	case s.debitCol >= 0 && ex.Static[s.debitCol] > 0:
		return GroupHiddenDebit
	case s.monthlyCol >= 0 && ex.Static[s.monthlyCol] > 0:
		return GroupHiddenMonthly
	}
	return GroupHiddenOther
}

// hiddenBreakdown computes OracleReport.Hidden from the model's scores
// (slot 0) on the matched examples.
func (s *scoring) hiddenBreakdown(matched []bool) *HiddenBreakdown {
	h := &HiddenBreakdown{}
	var negM, negO []float64
	for i, ok := range matched {
		if ok && !s.labels[i] {
			negM = append(negM, s.scores[0][i])
			negO = append(negO, s.oracle[i])
			h.NonChurners++
		}
	}
	for _, name := range []string{GroupHiddenDebit, GroupHiddenMonthly, GroupHiddenOther, GroupVisible} {
		m, o := slices.Clone(negM), slices.Clone(negO)
		y := make([]bool, len(m))
		n := 0
		for i, ok := range matched {
			if ok && s.labels[i] && s.groupC[i] == name {
				m = append(m, s.scores[0][i])
				o = append(o, s.oracle[i])
				y = append(y, true)
				n++
			}
		}
		h.Groups = append(h.Groups, ChurnGroup{Name: name, Churners: n, ModelAUC: Num(ROCAUC(m, y)), OracleAUC: Num(ROCAUC(o, y))})
	}
	var sc []float64
	var y []bool
	for i, ok := range matched {
		if ok {
			v := s.scores[0][i]
			if g := s.groupC[i]; g != GroupVisible { // hidden: Truth.Churned
				v = 1
			}
			sc = append(sc, v)
			y = append(y, s.labels[i])
		}
	}
	h.IfHiddenKnown = Num(ROCAUC(sc, y))
	return h
}

// classesBreakdown computes OracleReport.NextByClasses over the matched
// next-course examples.
func (s *scoring) classesBreakdown(matched []bool) *ClassesBreakdown {
	b := &ClassesBreakdown{Methods: append(slices.Clone(s.nextMethods), MethodOracle)}
	for _, bin := range classBins {
		cb := ClassesBin{Lo: bin[0], Hi: bin[1]}
		hits := make([]int, len(b.Methods))
		for i, ok := range matched {
			c := s.nextClasses[i]
			if !ok || c < bin[0] || (bin[1] >= 0 && c > bin[1]) {
				continue
			}
			cb.N++
			for j := range s.nextMethods {
				if s.ranks[j][i] <= 3 {
					hits[j]++
				}
			}
			if s.oracleOpt[i] <= 3 {
				hits[len(hits)-1]++
			}
		}
		for _, h := range hits {
			cb.HR3 = append(cb.HR3, share(h, cb.N))
		}
		b.Bins = append(b.Bins, cb)
	}
	return b
}

// cloneExample copies src into dst, reusing dst's slices.
func cloneExample(dst, src *features.Example) {
	seq, mask, static := dst.Seq, dst.Mask, dst.Static
	*dst = *src
	dst.Seq = append(seq[:0], src.Seq...)
	dst.Mask = append(mask[:0], src.Mask...)
	dst.Static = append(static[:0], src.Static...)
}

// summarise computes the metrics into rep.
func (s *scoring) summarise(rep *Report, truth *truthIndex) {
	all := make([]bool, len(s.labels))
	for i := range all {
		all[i] = true
	}
	for i, name := range s.churnMethods {
		rep.Churn = append(rep.Churn, churnResult(name, s.probabilistic[i], s.scores[i], s.labels, s.churnTier, all))
	}
	allNext := make([]bool, len(s.nextTier))
	for i := range allNext {
		allNext[i] = true
	}
	for i, name := range s.nextMethods {
		rep.Next = append(rep.Next, nextResult(name, s.ranks[i], s.nextTier, allNext))
	}
	rep.RecencyFlag = EvalRule(s.recency, s.labels)
	rep.curves = evalCurves{churnMethods: s.churnMethods, churnScores: s.scores, probabilistic: s.probabilistic, labels: s.labels}
	if truth == nil {
		return
	}
	or := &OracleReport{TruthRows: truth.n, Sims: truth.sims, ChurnNoRow: s.noRow, ChurnNotAlive: s.notAlive,
		HiddenChurned: s.hidden, HiddenChurnedPositives: s.hiddenPos,
		NextNoRow: s.nextNoRow, NextNoDist: s.nextNoDist}
	for _, c := range rep.TestCutoffs {
		if !truth.cutoffs[c.Unix()] {
			or.MissingCutoffs = append(or.MissingCutoffs, c)
		}
	}
	matched := make([]bool, len(s.labels))
	for i, p := range s.oracle {
		matched[i] = !math.IsNaN(p)
		if matched[i] {
			or.ChurnMatched++
		}
	}
	nextMatched := make([]bool, len(s.oracleRank))
	for i, r := range s.oracleRank {
		nextMatched[i] = r > 0
		if nextMatched[i] {
			or.NextMatched++
		}
	}
	for i, name := range s.churnMethods {
		or.Churn = append(or.Churn, churnResult(name, s.probabilistic[i], s.scores[i], s.labels, s.churnTier, matched))
	}
	oc := churnResult(MethodOracle, true, s.oracle, s.labels, s.churnTier, matched)
	or.Churn = append(or.Churn, oc)
	rep.Churn = append(rep.Churn, oc)
	for i, name := range s.nextMethods {
		or.Next = append(or.Next, nextResult(name, s.ranks[i], s.nextTier, nextMatched))
	}
	on := nextResult(MethodOracle, s.oracleRank, s.nextTier, nextMatched)
	or.Next = append(or.Next, on)
	rep.Next = append(rep.Next, on)
	or.OracleTies = s.oracleTies
	or.HR3Optimistic = nextResult(MethodOracle, s.oracleOpt, s.nextTier, nextMatched).All.HR3
	or.ChurnAUCShare, or.HR3Share = Num(math.NaN()), Num(math.NaN())
	if s.model {
		or.ChurnAUCShare = or.Churn[0].All.ROCAUC / oc.All.ROCAUC
		or.HR3Share = or.Next[0].All.HR3 / or.HR3Optimistic
		or.Hidden = s.hiddenBreakdown(matched)
	}
	or.NextByClasses = s.classesBreakdown(nextMatched)
	rep.Oracle = or
	for i, ok := range matched {
		if ok {
			rep.curves.oracleScores = append(rep.curves.oracleScores, s.oracle[i])
			rep.curves.oracleLabels = append(rep.curves.oracleLabels, s.labels[i])
		}
	}
}

// churnResult computes one method's churn metrics over the examples with
// keep set, overall and per tier.
func churnResult(name string, prob bool, scores []float64, labels []bool, tiers []features.Tier, keep []bool) ChurnResult {
	sub := func(want func(i int) bool) ([]float64, []bool) {
		var s []float64
		var y []bool
		for i := range labels {
			if keep[i] && want(i) {
				s = append(s, scores[i])
				y = append(y, labels[i])
			}
		}
		return s, y
	}
	s, y := sub(func(int) bool { return true })
	r := ChurnResult{Method: name, Probabilistic: prob, All: ChurnSummary(s, y, prob)}
	if prob {
		r.Reliability = Reliability(s, y, ECEBins)
	}
	for _, t := range reportTiers {
		ts, ty := sub(func(i int) bool { return tiers[i] == t })
		m := ChurnSummary(ts, ty, prob)
		m.Tier = t.String()
		r.Tiers = append(r.Tiers, m)
	}
	return r
}

// nextResult computes one method's ranking metrics over the examples with
// keep set, overall and per tier.
func nextResult(name string, ranks []int, tiers []features.Tier, keep []bool) NextResult {
	sub := func(want func(i int) bool) []int {
		var out []int
		for i, r := range ranks {
			if keep[i] && want(i) {
				out = append(out, r)
			}
		}
		return out
	}
	r := NextResult{Method: name, All: RankSummary(sub(func(int) bool { return true }))}
	for _, t := range reportTiers {
		m := RankSummary(sub(func(i int) bool { return tiers[i] == t }))
		m.Tier = t.String()
		r.Tiers = append(r.Tiers, m)
	}
	return r
}

// result returns the row of method in rows, or nil.
func churnRow(rows []ChurnResult, method string) *ChurnResult {
	for i := range rows {
		if rows[i].Method == method {
			return &rows[i]
		}
	}
	return nil
}

func nextRow(rows []NextResult, method string) *NextResult {
	for i := range rows {
		if rows[i].Method == method {
			return &rows[i]
		}
	}
	return nil
}

// isBaseline reports whether method is a baseline: not the model, a
// candidate or the oracle.
func (r *Report) isBaseline(method string) bool {
	if method == MethodModel || method == MethodOracle {
		return false
	}
	for _, c := range r.Candidates {
		if c.Name == method {
			return false
		}
	}
	return true
}

// bars evaluates the acceptance bars.
func (r *Report) bars() {
	nan := Num(math.NaN())
	na := func(name, rule, why string) Bar {
		return Bar{Name: name, Rule: rule, Value: nan, Threshold: nan, Status: BarNA, Detail: why}
	}
	check := func(name, rule string, v, thr Num, pass bool, detail string) Bar {
		st := BarFail
		if pass {
			st = BarPass
		}
		return Bar{Name: name, Rule: rule, Value: v, Threshold: thr, Status: st, Detail: detail}
	}
	mc, mn := churnRow(r.Churn, MethodModel), nextRow(r.Next, MethodModel)

	// Best baselines, on all churn / next examples.
	bestC, bestCName := nan, ""
	for _, c := range r.Churn {
		if r.isBaseline(c.Method) && !math.IsNaN(float64(c.All.ROCAUC)) && (bestCName == "" || c.All.ROCAUC > bestC) {
			bestC, bestCName = c.All.ROCAUC, c.Method
		}
	}
	bestN, bestNName := nan, ""
	for _, n := range r.Next {
		if r.isBaseline(n.Method) && !math.IsNaN(float64(n.All.HR3)) && (bestNName == "" || n.All.HR3 > bestN) {
			bestN, bestNName = n.All.HR3, n.Method
		}
	}

	const noModel = "no model evaluated"
	const noTruth = "no ground truth (oracle) given"
	rule1 := fmt.Sprintf("churn ROC-AUC ≥ %.2f × oracle ROC-AUC (matched examples)", BarChurnOracleShare)
	switch {
	case mc == nil:
		r.Bars = append(r.Bars, na(barChurnOracle, rule1, noModel))
	case r.Oracle == nil:
		r.Bars = append(r.Bars, na(barChurnOracle, rule1, noTruth))
	default:
		m, o := churnRow(r.Oracle.Churn, MethodModel).All.ROCAUC, churnRow(r.Oracle.Churn, MethodOracle).All.ROCAUC
		thr := BarChurnOracleShare * o
		r.Bars = append(r.Bars, check(barChurnOracle, rule1, m, thr, m >= thr,
			fmt.Sprintf("model %.4f, oracle %.4f, share %.4f on %d matched examples", m, o, m/o, r.Oracle.ChurnMatched)))
	}
	rule2 := fmt.Sprintf("churn ROC-AUC ≥ best baseline ROC-AUC + %.2f", BarChurnMargin)
	if mc == nil {
		r.Bars = append(r.Bars, na(barChurnBaselines, rule2, noModel))
	} else {
		thr := bestC + BarChurnMargin
		r.Bars = append(r.Bars, check(barChurnBaselines, rule2, mc.All.ROCAUC, thr, mc.All.ROCAUC >= thr,
			fmt.Sprintf("model %.4f, best baseline %s %.4f", mc.All.ROCAUC, bestCName, bestC)))
	}
	rule3 := fmt.Sprintf("churn expected calibration error < %.2f (%d equal-width bins)", BarECE, ECEBins)
	if mc == nil {
		r.Bars = append(r.Bars, na(barCalibration, rule3, noModel))
	} else {
		r.Bars = append(r.Bars, check(barCalibration, rule3, mc.All.ECE, BarECE, mc.All.ECE < BarECE,
			fmt.Sprintf("model ECE %.4f", mc.All.ECE)))
	}
	rule4 := fmt.Sprintf("next-course HR@3 ≥ %.2f × oracle HR@3 (matched examples; oracle ties broken in its favour)", BarHR3OracleShare)
	switch {
	case mn == nil:
		r.Bars = append(r.Bars, na(barHR3Oracle, rule4, noModel))
	case r.Oracle == nil:
		r.Bars = append(r.Bars, na(barHR3Oracle, rule4, noTruth))
	default:
		m, o := nextRow(r.Oracle.Next, MethodModel).All.HR3, r.Oracle.HR3Optimistic
		thr := BarHR3OracleShare * o
		r.Bars = append(r.Bars, check(barHR3Oracle, rule4, m, thr, m >= thr,
			fmt.Sprintf("model %.4f, oracle %.4f, share %.4f on %d matched examples", m, o, m/o, r.Oracle.NextMatched)))
	}
	rule5 := fmt.Sprintf("next-course HR@3 ≥ best baseline HR@3 + %.2f", BarHR3Margin)
	if mn == nil {
		r.Bars = append(r.Bars, na(barHR3Baselines, rule5, noModel))
	} else {
		thr := bestN + BarHR3Margin
		r.Bars = append(r.Bars, check(barHR3Baselines, rule5, mn.All.HR3, thr, mn.All.HR3 >= thr,
			fmt.Sprintf("model %.4f, best baseline %s %.4f", mn.All.HR3, bestNName, bestN)))
	}
}

// notes records the conventions the numbers depend on.
func (r *Report) notes(truth *truthIndex) {
	if r.ModelFingerprint != "" && r.ModelFingerprint != r.DataFingerprint {
		r.Notes = append(r.Notes, fmt.Sprintf("WARNING: the features file (%s) is not the file the model was trained on (%s): "+
			"its test split need not lie after the model's training period, and may overlap it.", r.DataFingerprint, r.ModelFingerprint))
	}
	for _, c := range r.Candidates {
		if c.Fingerprint != "" && c.Fingerprint != r.DataFingerprint {
			r.Notes = append(r.Notes, fmt.Sprintf("WARNING: the features file (%s) is not the file %s was trained on (%s): "+
				"its test split need not lie after that model's training period, and may overlap it.", r.DataFingerprint, c.Name, c.Fingerprint))
		}
	}
	r.Notes = append(r.Notes,
		fmt.Sprintf("Baselines were fitted on the %d training cutoffs only; every method is scored on the same %d churn and %d next-course test examples.", r.TrainCutoffs, r.Counts.Churn, r.Counts.Next),
		"Next-course metrics rank all categories; a category tied with the true one counts as ranked ahead of it (pessimistic ties).",
		"The Markov chain's \"last category\" is the most recent week of the 26-week window with a class, its categories weighted by count: the training file has weekly counts, not the order of classes within a week.",
	)
	if truth == nil {
		return
	}
	r.Notes = append(r.Notes,
		"Oracle rows are matched to test examples by member id and cutoff instant; both cutoffs are midnights (features: Config.TimeZone; truth: UTC), so they match only when the time zone is UTC or the instants coincide.",
		"The truth's label differs slightly from the features' label: the truth looks for activity in [t−8w, t] and the horizon (t, t+H], the features use events before t and the horizon [t, t+H); the features also count an unrenewed due date up to 30 days before t and never exclude members who joined within the last H weeks. The oracle is therefore the best score for the generator's label, very close to but not exactly the best for this one.",
	)
	if truth.sims > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("The oracle's probabilities are Monte Carlo estimates from %d re-simulations each, so its scores are slightly noisy: its AUC and HR@3 are a little below those of the exact probabilities.", truth.sims))
	}
}
