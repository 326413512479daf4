package main

import (
	"path/filepath"
	"strings"
	"testing"

	"retain/features"
	"retain/model"
)

// TestFeaturesTrainCLI runs the offline loop on a small gym through the
// command line: features, train with checkpoints, resume with more epochs,
// and train straight from a dataset directory.
func TestFeaturesTrainCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, stderr := runCLI(t, "generate", "--members", "300", "--weeks", "40", "--seed", "5", "--truth-sims", "0", "--quiet", "--out", data); code != 0 {
		t.Fatalf("generate exited %d: %s", code, stderr)
	}
	feat := filepath.Join(dir, "f.rtfs")
	shape := []string{"--weeks", "8", "--horizon", "4", "--cutoff-every", "2"}
	code, stdout, stderr := runCLI(t, append([]string{"features", "--data", data, "--out", feat}, shape...)...)
	if code != 0 {
		t.Fatalf("features exited %d: %s", code, stderr)
	}
	for _, want := range []string{"wrote " + feat, "validation", "train", "test", "LTV bgnbd+gammagamma over 104.4 weeks"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("features output lacks %q:\n%s", want, stdout)
		}
	}
	bundle := filepath.Join(dir, "m.rtmb")
	ck := filepath.Join(dir, "ck")
	small := []string{"--hidden", "8", "--batch", "32", "--patience", "-1", "--out", bundle, "--checkpoint-dir", ck}
	code, stdout, stderr = runCLI(t, append([]string{"train", "--features", feat, "--epochs", "1"}, small...)...)
	if code != 0 {
		t.Fatalf("train exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "epoch  1/1") || !strings.Contains(stdout, "val_churn_auc") || !strings.Contains(stdout, "wrote "+bundle) {
		t.Errorf("train output:\n%s\n%s", stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, append([]string{"train", "--features", feat, "--epochs", "2", "--resume"}, small...)...)
	if code != 0 || !strings.Contains(stdout, "resumed after epoch 1") || !strings.Contains(stdout, "trained 2 epochs") {
		t.Fatalf("resume exited %d:\n%s\n%s", code, stdout, stderr)
	}
	b, err := model.Load(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if b.Config.Hidden != 8 || b.Calibration.Method != "platt" || b.Metrics["epochs_run"] != 2 {
		t.Errorf("bundle: hidden %d, calibration %q, metrics %v", b.Config.Hidden, b.Calibration.Method, b.Metrics)
	}
	if l := b.Spec.LTV; l.Model != features.LTVBTYD || l.Customers == 0 {
		t.Errorf("the bundle's spec carries LTV %s, want the model fitted by the features step", l.String())
	}
	// From the dataset directory, building the features on the way.
	bundle2 := filepath.Join(dir, "m2.rtmb")
	args := append([]string{"train", "--data", data, "--out", bundle2, "--epochs", "1", "--hidden", "8", "--quiet"}, shape...)
	if code, stdout, stderr = runCLI(t, args...); code != 0 || !strings.Contains(stdout, "wrote "+bundle2) {
		t.Fatalf("train --data exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet printed %q", stderr)
	}
	// Usage errors.
	if code, _, _ := runCLI(t, "train", "--out", bundle); code != 2 {
		t.Errorf("train without input: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "train", "--features", feat, "--data", data, "--out", bundle); code != 2 {
		t.Errorf("train with both inputs: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "train", "--features", feat, "--out", bundle, "--engine", "cuda"); code != 1 || !strings.Contains(stderr, "Engine") {
		t.Errorf("unknown engine: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "features", "--data", data); code != 2 {
		t.Errorf("features without --out: exit %d, want 2", code)
	}
}
