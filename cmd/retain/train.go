package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	"retain/features"
	"retain/model"
	"retain/train"
)

func init() {
	register(command{name: "train", summary: "train, calibrate and save the model bundle", run: runTrain})
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	o := train.DefaultOptions()
	fcfg := features.DefaultConfig()
	fs := newFlags("train", stderr)
	data := fs.String("data", "", "dataset directory: build its training file first (or give --features)")
	featPath := fs.String("features", "", "training file written by 'retain features' (or give --data)")
	featOut := fs.String("features-out", "", "with --data: where to keep the training file (default: a temporary file, removed)")
	fs.StringVar(&o.Out, "out", "", "model bundle to write (required)")
	fs.IntVar(&o.Epochs, "epochs", o.Epochs, "maximum number of epochs")
	fs.IntVar(&o.Patience, "patience", o.Patience, "stop after this many epochs without a better validation loss (0: the default; negative: never)")
	fs.IntVar(&o.Hidden, "hidden", o.Hidden, "LSTM hidden size")
	fs.IntVar(&o.Layers, "layers", o.Layers, "LSTM layers (1 or 2)")
	fs.IntVar(&o.BatchSize, "batch", o.BatchSize, "sequences per Adam step")
	fs.Float64Var(&o.LearningRate, "lr", o.LearningRate, "Adam learning rate")
	fs.Float64Var(&o.ClipNorm, "clip", o.ClipNorm, "gradient norm clipping (negative: off)")
	fs.Float64Var(&o.L2, "l2", o.L2, "Adam weight decay (0: the default; negative: none)")
	fs.Float64Var(&o.EMA, "ema", o.EMA, "decay per step of the moving average of the weights that validation and the bundle use (0: the default; negative: off)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed (initial weights and shuffling)")
	engine := fs.String("engine", string(o.Engine), "gradient engine: native (fast) or gorgonia (reference)")
	fs.Float64Var(&o.ChurnWeight, "churn-weight", o.ChurnWeight, "weight of the churn loss against the next-category loss")
	fs.Float64Var(&o.PosWeight, "pos-weight", o.PosWeight, "weight of churned examples in the churn loss (0: negatives/positives of the training split)")
	fs.BoolVar(&o.NoIndicators, "no-indicators", o.NoIndicators, "do not feed the indicators to the network")
	fs.BoolVar(&o.NoSummary, "no-summary", o.NoSummary, "do not feed the log window sums of visits and classes to the network")
	fs.StringVar(&o.Calibration, "calibration", o.Calibration, "churn calibration on the validation split: platt, temperature or none")
	fs.StringVar(&o.NextBlend, "next-blend", o.NextBlend, "next-category prediction: pool (the network and the features' choice model, weighed on the validation split) or none (the network alone)")
	fs.IntVar(&o.Workers, "workers", o.Workers, "goroutines per batch (runs reproduce for the same value only)")
	fs.StringVar(&o.CheckpointDir, "checkpoint-dir", "", "write a checkpoint here after every epoch")
	fs.BoolVar(&o.Resume, "resume", false, "continue from the checkpoint in --checkpoint-dir")
	quiet := fs.Bool("quiet", false, "no progress output")
	featureFlags(fs, &fcfg)
	onBad := onBadRowFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*data == "") == (*featPath == "") || o.Out == "" {
		fmt.Fprintln(stderr, "retain train: give --out and exactly one of --data and --features")
		fs.Usage()
		return errUsage
	}
	bopts, err := buildOptions("train", *onBad, stderr)
	if err != nil {
		return err
	}
	if *data != "" {
		if err := checkFeatureConfig("train", &fcfg, stderr); err != nil {
			return err
		}
	}
	o.Engine = model.Engine(*engine)
	if !*quiet {
		o.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	path := *featPath
	if *data != "" {
		path = *featOut
		if path == "" {
			tmp, err := os.MkdirTemp("", "retain-train-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			path = filepath.Join(tmp, "features.rtfs")
		}
		rep, err := features.BuildDir(*data, fcfg, path, bopts)
		if err != nil {
			return err
		}
		writeBuildReport(stdout, rep)
	}
	res, err := train.Train(ctx, path, &o)
	if err != nil {
		if o.CheckpointDir != "" && ctx.Err() != nil {
			return fmt.Errorf("%w (resume with --resume --checkpoint-dir %s)", err, o.CheckpointDir)
		}
		return err
	}
	writeTrainResult(stdout, res)
	return nil
}

// writeTrainResult prints the outcome of a training run.
func writeTrainResult(w io.Writer, res *train.Result) {
	if res.ResumedFrom > 0 {
		fmt.Fprintf(w, "resumed after epoch %d\n", res.ResumedFrom)
	}
	fmt.Fprintf(w, "trained %d epochs (%s) in %.1fs on %d examples; best epoch %d; validation %d examples\n",
		len(res.History), res.Stopped, res.Seconds, res.TrainExamples, res.BestEpoch, res.ValExamples)
	c := res.Bundle.Calibration
	fmt.Fprintf(w, "calibration %s: p = sigmoid(%.4f*z %+.4f); validation log-loss %.4f -> %.4f\n",
		c.Method, c.A, c.B, c.LogLossBefore, c.LogLossAfter)
	keys := make([]string, 0, len(res.Validation))
	for k := range res.Validation {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.4f", k, res.Validation[k]))
	}
	fmt.Fprintf(w, "validation: %s\n", strings.Join(parts, ", "))
	if res.BundlePath != "" {
		fmt.Fprintf(w, "wrote %s\n", res.BundlePath)
	}
}
