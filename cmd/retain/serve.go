package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"retain/serve"
	"retain/serve/playbook"
)

func init() {
	register(command{name: "serve", summary: "serve scores and recommendations over gRPC and JSON/HTTP", run: runServe})
}

// defaultGCPercent is the server's default --gc-percent. A scoring call
// allocates ~30 kB and the live heap is a few MB, so with Go's default
// (100) the server collects ~15 times a second at 1,000 calls/s; 400 cuts
// that to ~3 for ~10 MB more heap, and gave a lower p99 and CPU per call
// in four of four A/B pairs (docs/benchmarks.md, "Scoring service").
const defaultGCPercent = 400

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runServe serves until SIGINT or SIGTERM, then shuts down gracefully.
// SIGHUP, and with --watch (the default) a change of the bundle or
// playbook file, reloads the model bundle and the playbook; a bundle or
// playbook that does not load or fails its check is refused, logged, and
// the current model keeps serving.
func runServe(args []string, stdout, stderr io.Writer) error {
	return serveUntil(context.Background(), args, stdout, stderr)
}

// serveUntil is runServe that also stops, as on SIGTERM, when parent is
// done; tests stop the server that way.
func serveUntil(parent context.Context, args []string, stdout, stderr io.Writer) error {
	o := serve.DefaultOptions()
	fs := newFlags("serve", stderr)
	storePath := fs.String("store", "", "serving store file, filled by 'retain load' (required)")
	bundle := fs.String("model", "", "model bundle written by 'retain train' (required)")
	pbPath := fs.String("playbook", "", "action playbook file, YAML or JSON (docs/playbook.md; default: the embedded playbook)")
	printPB := fs.Bool("print-playbook", false, "print the embedded default playbook, a starting point for --playbook, and exit")
	watch := fs.Bool("watch", true, "reload when the --model or --playbook file changes (also on SIGHUP)")
	poll := fs.Duration("watch-poll", 0, "with --watch: look at the files this often instead of waiting for file-system events (for NFS and the like)")
	fs.StringVar(&o.Addr, "addr", o.Addr, "gRPC listen address")
	fs.StringVar(&o.HTTPAddr, "http", "", "JSON/HTTP listen address (default: none)")
	fs.StringVar(&o.MetricsAddr, "metrics", o.MetricsAddr, "Prometheus /metrics listen address; - for none")
	tokens := fs.String("tokens", "", "YAML file of API clients, tokens and scopes (required unless --no-auth)")
	fs.BoolVar(&o.NoAuth, "no-auth", false, "serve without tokens: every caller has every scope (local experiments only)")
	fs.BoolVar(&o.NoReflection, "no-reflection", false, "turn off gRPC server reflection (on by default, without a token: it gives the API's schema, as docs/api.md does)")
	fs.StringVar(&o.TLSCertFile, "tls-cert", "", "PEM certificate chain for TLS (default: plaintext)")
	fs.StringVar(&o.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.ClientCAFile, "client-ca", "", "PEM CAs of client certificates: require mutual TLS")
	fs.Float64Var(&o.Risk.Medium, "risk-medium", o.Risk.Medium, "churn probability from which the risk is MEDIUM")
	fs.Float64Var(&o.Risk.High, "risk-high", o.Risk.High, "churn probability from which the risk is HIGH (and a retention offer is made)")
	fs.StringVar(&o.TimeZone, "timezone", o.TimeZone, "IANA time zone of the timetable's start times")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	gcPercent := fs.Int("gc-percent", defaultGCPercent, "garbage-collection target of the server process, as GOGC: collect when the heap has grown by this percentage of the live heap; the GOGC environment variable, when set, wins over the default")
	alertFlags := addAlertFlags(fs) // serve_alerts.go
	if err := parse(fs, args); err != nil {
		return err
	}
	if *printPB {
		_, err := stdout.Write(playbook.DefaultSource())
		return err
	}
	if *storePath == "" || *bundle == "" || (*tokens == "" && !o.NoAuth) {
		fmt.Fprintln(stderr, "retain serve: give --store, --model and --tokens (or --no-auth)")
		fs.Usage()
		return errUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if *gcPercent < 1 {
		return fmt.Errorf("--gc-percent %d: want a positive percentage", *gcPercent)
	}
	if flagSet(fs, "gc-percent") || os.Getenv("GOGC") == "" {
		// Restored on return: tests run the server inside their process.
		defer debug.SetGCPercent(debug.SetGCPercent(*gcPercent))
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if *tokens != "" {
		t, err := serve.ReadTokensFile(*tokens)
		if err != nil {
			return err
		}
		o.Tokens = t
	}

	store, err := serve.OpenStore(*storePath, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	files := serve.ModelFiles{Bundle: *bundle, Playbook: *pbPath,
		Options: serve.BundleOptions{Catalog: store.Courses, HighRisk: o.Risk.High, MediumRisk: o.Risk.Medium}}
	bopts := files.Options
	if *pbPath != "" {
		if bopts.Playbook, err = playbook.Load(*pbPath); err != nil {
			return err
		}
	}
	sc, err := serve.NewBundleScorer(*bundle, &bopts)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := serve.New(o, sc, store, logger, reg)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stopAlerts, err := alertFlags.start(ctx, srv, *storePath, logger, reg)
	if err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	defer stopAlerts()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading the model", "bundle", *bundle, "playbook", *pbPath)
				// LoadModel logs a refusal; the current model stays.
				srv.LoadModel(ctx, files)
			}
		}
	}()
	if *watch {
		go srv.WatchModel(ctx, files, &serve.WatchOptions{Poll: *poll})
	}
	err = srv.ListenAndServe(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("stopped")
	return err
}
