package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"retain/train"
)

// TestEvaluateCLI runs generate, train and evaluate on a small gym and
// checks that evaluate writes its report, plots and comparison table, with
// and without a model.
func TestEvaluateCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "generate", "--members", "300", "--weeks", "104", "--seed", "5", "--truth-sims", "20", "--quiet", "--out", data); code != 0 {
		t.Fatalf("generate exited %d: %s", code, stderr)
	}

	// Without a model: baselines and oracle, training file built from --data.
	out := filepath.Join(dir, "base")
	code, stdout, stderr := runCLI(t, "evaluate", "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("evaluate exited %d: %s", code, stderr)
	}
	for _, want := range []string{"logistic regression", "most frequent", "oracle", "N/A"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("evaluate printed no %q:\n%s", want, stdout)
		}
	}
	for _, name := range []string{train.ReportMarkdown, train.ReportJSON, train.PlotROC, train.PlotCalibration} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}

	// With a model trained on the same training file.
	feat := filepath.Join(dir, "features.rtfs")
	bundle := filepath.Join(dir, "model.bundle")
	if code, _, stderr := runCLI(t, "train", "--data", data, "--features-out", feat, "--out", bundle, "--epochs", "1", "--hidden", "8", "--quiet"); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	out = filepath.Join(dir, "model")
	code, stdout, stderr = runCLI(t, "evaluate", "--model", bundle, "--features", feat, "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("evaluate exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "model ") || !(strings.Contains(stdout, "PASS") || strings.Contains(stdout, "FAIL")) {
		t.Errorf("no model row or bar verdicts:\n%s", stdout)
	}
	b, err := os.ReadFile(filepath.Join(out, train.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep train.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Churn[0].Method != train.MethodModel || rep.Oracle == nil || rep.ModelFingerprint != rep.DataFingerprint {
		t.Errorf("report: first method %q, oracle %v, fingerprints %s / %s", rep.Churn[0].Method, rep.Oracle != nil, rep.ModelFingerprint, rep.DataFingerprint)
	}
	if u := rep.Uncertainty; u == nil || u.Resamples != train.DefaultBootstrap || len(u.Bars) != len(rep.Bars) {
		t.Errorf("report uncertainty %+v: want %d resamples and an interval per bar", u, train.DefaultBootstrap)
	}
	if !strings.Contains(stdout, "member-bootstrap resamples") {
		t.Errorf("no bar intervals printed:\n%s", stdout)
	}
	// --compare: a copy of the bundle under another name scores the same,
	// so every paired difference is 0.
	twin := filepath.Join(dir, "twin.bundle")
	if b, err := os.ReadFile(bundle); err != nil || os.WriteFile(twin, b, 0o600) != nil {
		t.Fatal("copy bundle", err)
	}
	out = filepath.Join(dir, "compare")
	code, stdout, stderr = runCLI(t, "evaluate", "--model", bundle, "--compare", twin, "--features", feat, "--out", out)
	if code != 0 || !strings.Contains(stdout, "the other models against the model") {
		t.Fatalf("evaluate --compare: exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, train.ReportJSON)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidates) != 1 || rep.Candidates[0].Name != "twin.bundle" || len(rep.Uncertainty.Comparisons) != 3 {
		t.Fatalf("candidates %+v, comparisons %+v", rep.Candidates, rep.Uncertainty.Comparisons)
	}
	for _, c := range rep.Uncertainty.Comparisons {
		if c.Diff != 0 || c.Lo != 0 || c.Hi != 0 || c.BetterShare != 0 {
			t.Errorf("the bundle against its copy: %+v, want all 0", c)
		}
	}
	if code, _, stderr := runCLI(t, "evaluate", "--compare", twin, "--features", feat, "--out", out); code != 2 || !strings.Contains(stderr, "--compare needs --model") {
		t.Errorf("evaluate --compare without --model: exit %d, stderr %s", code, stderr)
	}
	for _, flag := range [][]string{{"--compare", twin}, {"--bootstrap", "100"}} {
		args := append([]string{"evaluate", "--protocol", "holdout", "--model", bundle, "--features", feat, "--data", data, "--out", out}, flag...)
		if code, _, stderr := runCLI(t, args...); code != 2 || !strings.Contains(stderr, "for --protocol split") {
			t.Errorf("evaluate --protocol holdout %s: exit %d, stderr %s", flag[0], code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "evaluate", "--model", bundle, "--compare", filepath.Join(dir, "none"), "--features", feat, "--out", out); code == 0 || !strings.Contains(stderr, "none") {
		t.Errorf("evaluate --compare of a missing file: exit %d, stderr %s", code, stderr)
	}

	// --bootstrap 0: no intervals; a negative count is a usage error.
	out = filepath.Join(dir, "noboot")
	if code, stdout, stderr := runCLI(t, "evaluate", "--model", bundle, "--features", feat, "--out", out, "--bootstrap", "0"); code != 0 || strings.Contains(stdout, "member-bootstrap") {
		t.Errorf("evaluate --bootstrap 0: exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, train.ReportJSON)); err != nil || strings.Contains(string(b), `"Uncertainty"`) {
		t.Errorf("--bootstrap 0 report (err %v) has uncertainty", err)
	}
	if code, _, stderr := runCLI(t, "evaluate", "--model", bundle, "--features", feat, "--out", out, "--bootstrap", "-5"); code != 2 || !strings.Contains(stderr, "--bootstrap -5") {
		t.Errorf("evaluate --bootstrap -5: exit %d, stderr %s", code, stderr)
	}

	// A training file with another label definition is refused.
	other := filepath.Join(dir, "absence.rtfs")
	if code, _, stderr := runCLI(t, "features", "--data", data, "--label", "absence", "--out", other); code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "evaluate", "--model", bundle, "--features", other, "--out", filepath.Join(dir, "x"))
	if code == 0 || !strings.Contains(stderr, "labels churn as") {
		t.Errorf("evaluate with another label: exit %d, stderr %s", code, stderr)
	}

	// Usage errors.
	if code, _, _ := runCLI(t, "evaluate", "--model", bundle); code != 2 {
		t.Errorf("evaluate without --out: exit %d, want 2", code)
	}
}

// TestEvaluateHoldoutCLI runs the CDNOW protocol's commands (the flags of
// make eval-cdnow) on the 1/10 sample: import, features with the member
// split, a 1-epoch training, evaluate --protocol holdout. Skipped without
// ../shared/datasets/cdnow.
func TestEvaluateHoldoutCLI(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "datasets", "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("CDNOW sample not available (%v); it lives in ../shared/datasets/cdnow next to the repository", err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "import", "--mapping", "cdnow_sample", "--out", data, src); code != 0 {
		t.Fatalf("import exited %d: %s", code, stderr)
	}
	feat := filepath.Join(dir, "f.rtfs")
	code, stdout, stderr := runCLI(t, "features", "--data", data, "--out", feat, "--tz", "America/New_York", "--week-start", "wednesday",
		"--weeks", "39", "--horizon", "39", "--cutoff-every", "4", "--first-cutoff", "1997-04-16", "--last-cutoff", "1997-10-01",
		"--data-end", "1998-07-01", "--split", "member", "--test-fraction", "0.3", "--val-fraction", "0.1", "--split-seed", "1")
	if code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	// 7 cutoffs, 1997-04-16 .. 1997-10-01; no censored example.
	if !strings.Contains(stdout, "data 1997-01-01 .. 1998-07-01, 7 cutoffs") {
		t.Errorf("features:\n%s", stdout)
	}
	bundle := filepath.Join(dir, "m.rtmb")
	if code, _, stderr := runCLI(t, "train", "--features", feat, "--out", bundle, "--epochs", "1", "--hidden", "8", "--quiet"); code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "eval")
	code, stdout, stderr = runCLI(t, "evaluate", "--protocol", "holdout", "--model", bundle, "--features", feat, "--data", data, "--out", out)
	if code != 0 {
		t.Fatalf("evaluate exited %d: %s", code, stderr)
	}
	for _, want := range []string{"LSTM (calibrated)", "BG/NBD P(no purchase in horizon)", "rule: 90 days absent", "label mismatches against the holdout counts: 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("evaluate printed no %q:\n%s", want, stdout)
		}
	}
	for _, name := range []string{train.HoldoutReportFile, train.HoldoutJSONFile} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	// A time-split file is refused with a reason.
	timeFeat := filepath.Join(dir, "time.rtfs")
	if code, _, stderr := runCLI(t, "features", "--data", data, "--out", timeFeat, "--tz", "America/New_York"); code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "evaluate", "--protocol", "holdout", "--features", timeFeat, "--data", data, "--out", filepath.Join(dir, "x"))
	if code == 0 || !strings.Contains(stderr, "member split") {
		t.Errorf("holdout on a time-split file: exit %d, stderr %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "evaluate", "--protocol", "nope", "--features", feat, "--out", out); code != 2 {
		t.Errorf("--protocol nope: exit %d, want 2", code)
	}
}

// TestEvaluateFoldsCLI runs the 2-fold form of make eval-cdnow on the 1/10
// sample, baselines only (no training): features --folds 2 --fold i,
// evaluate --protocol holdout for each fold, then evaluate --protocol folds,
// which checks that the two test sets are disjoint and cover all 2,357
// customers. One fold alone is refused.
func TestEvaluateFoldsCLI(t *testing.T) {
	src := filepath.Join("..", "..", "..", "shared", "datasets", "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("CDNOW sample not available (%v); it lives in ../shared/datasets/cdnow next to the repository", err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "import", "--mapping", "cdnow_sample", "--out", data, src); code != 0 {
		t.Fatalf("import exited %d: %s", code, stderr)
	}
	var reports []string
	for _, fold := range []string{"0", "1"} {
		feat := filepath.Join(dir, "f"+fold+".rtfs")
		code, _, stderr := runCLI(t, "features", "--data", data, "--out", feat, "--tz", "America/New_York", "--week-start", "wednesday",
			"--weeks", "39", "--horizon", "39", "--cutoff-every", "4", "--first-cutoff", "1997-04-16", "--last-cutoff", "1997-10-01",
			"--data-end", "1998-07-01", "--split", "member", "--folds", "2", "--fold", fold, "--val-fraction", "0.1", "--split-seed", "1")
		if code != 0 {
			t.Fatalf("features --fold %s exited %d: %s", fold, code, stderr)
		}
		out := filepath.Join(dir, "eval"+fold)
		if code, _, stderr := runCLI(t, "evaluate", "--protocol", "holdout", "--features", feat, "--data", data, "--out", out); code != 0 {
			t.Fatalf("evaluate fold %s exited %d: %s", fold, code, stderr)
		}
		reports = append(reports, filepath.Join(out, train.HoldoutJSONFile))
	}
	out := filepath.Join(dir, "folds")
	code, stdout, stderr := runCLI(t, append([]string{"evaluate", "--protocol", "folds", "--out", out}, reports...)...)
	if code != 0 {
		t.Fatalf("evaluate --protocol folds exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "2357 test customers in all, 2357 distinct, of 2357 customers") || !strings.Contains(stdout, "| BG/NBD P(no purchase in horizon) | 0.") {
		t.Errorf("folds:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, train.FoldsJSONFile)); err != nil {
		t.Error(err)
	}
	if code, _, stderr := runCLI(t, "evaluate", "--protocol", "folds", "--out", out, reports[0]); code == 0 || !strings.Contains(stderr, "1 fold reports for a 2-fold split") {
		t.Errorf("one fold of two: exit %d, stderr %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "features", "--data", data, "--out", filepath.Join(dir, "x.rtfs"), "--split", "member", "--folds", "2", "--fold", "2"); code == 0 || !strings.Contains(stderr, "--fold 2: want 0 to 1 (--folds - 1)") {
		t.Errorf("--folds 2 --fold 2: exit %d, stderr %s", code, stderr)
	}
}

// TestFeaturesLastWeekCLI builds a leave-last-week-out file from a tiny
// interaction log: u1 is active in two weeks (tested), u2 in one (not).
func TestFeaturesLastWeekCLI(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log.csv")
	csv := "user_id,item_id,timestamp\n" +
		"u1,a,2024-01-02T10:00:00Z\nu1,b,2024-01-10T10:00:00Z\nu1,c,2024-01-24T10:00:00Z\nu1,a,2024-01-25T10:00:00Z\n" +
		"u2,b,2024-01-16T10:00:00Z\nu2,c,2024-01-17T10:00:00Z\n"
	if err := os.WriteFile(log, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "import", "--mapping", "interactions", "--out", data, log); code != 0 {
		t.Fatalf("import exited %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "features", "--data", data, "--out", filepath.Join(dir, "f.rtfs"), "--split", "last-week",
		"--weeks", "2", "--horizon", "1", "--cutoff-every", "1")
	if code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "1 test members (not tested: 0 without visits, 1 with visits in one week only)") ||
		!strings.Contains(stdout, "warning: the ltv indicator falls back to the naive formula: not fitted: the leave-last-week-out split") {
		t.Errorf("features:\n%s", stdout)
	}
}

// The --compare bundles are named by their file names, by the path as given
// where the file name is taken, and refused where both are.
func TestCandidateNames(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  []string // nil: an error
	}{
		{[]string{"runs/a.rtmb"}, []string{"a.rtmb"}},
		{[]string{"runs/a/m.rtmb", "runs/b/m.rtmb"}, []string{"m.rtmb", "runs/b/m.rtmb"}},
		{[]string{"dir/model"}, []string{"dir/model"}}, // "model" is the model's row
		{[]string{"./oracle"}, []string{"./oracle"}},
		{[]string{"model"}, nil},
		{[]string{"x/m", "x/m", "x/m"}, nil},
	} {
		got, err := candidateNames(tc.paths)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: names %q, want an error", tc.paths, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: names %q (err %v), want %q", tc.paths, got, err, tc.want)
		}
	}
}
