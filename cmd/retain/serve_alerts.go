package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"retain/serve"
	"retain/serve/alert"
)

// secretEnv holds the webhook secret when --webhook-secret-file is not
// given.
const secretEnv = "RETAIN_WEBHOOK_SECRET"

// alertFlags are the flags of 'retain serve' for the risk alerts
// (docs/alerts.md).
type alertFlags struct {
	url, secretFile, deadLetter, rescoreAt *string
	rescoreEvery, timeout, maxAge          *time.Duration
	maxAttempts                            *int
}

// defaultRescoreAt is the time of the nightly rescoring when --webhook is
// set without --rescore-at or --rescore-every.
const defaultRescoreAt = "02:00"

func addAlertFlags(fs *flag.FlagSet) *alertFlags {
	return &alertFlags{
		url:          fs.String("webhook", "", "URL to post a signed event to when a member's risk level rises (default: no alerts)"),
		secretFile:   fs.String("webhook-secret-file", "", "file holding the webhook signing secret (default: $"+secretEnv+")"),
		deadLetter:   fs.String("webhook-dead-letter", "", "JSONL file of the events given up on (default: <store>.webhook-dead.jsonl)"),
		rescoreAt:    fs.String("rescore-at", "", "rescore every active member daily at HH:MM (in --timezone) for the alerts (with --webhook and no --rescore-every: 02:00; \"off\": never)"),
		rescoreEvery: fs.Duration("rescore-every", 0, "rescore every active member at this interval for the alerts, e.g. 6h"),
		timeout:      fs.Duration("webhook-timeout", 10*time.Second, "timeout of one webhook post"),
		maxAttempts:  fs.Int("webhook-max-attempts", 20, "attempts before an event goes to the dead-letter file"),
		maxAge:       fs.Duration("webhook-max-age", 24*time.Hour, "age after which a failing event goes to the dead-letter file"),
	}
}

// start starts the alerts when --webhook is set, and returns the function
// that stops them. SIGUSR1 rescores every active member at once.
func (f *alertFlags) start(ctx context.Context, srv *serve.Server, storePath string, logger *slog.Logger, reg prometheus.Registerer) (stop func(), _ error) {
	if *f.url == "" {
		if *f.secretFile != "" || *f.deadLetter != "" || *f.rescoreAt != "" || *f.rescoreEvery != 0 {
			return nil, fmt.Errorf("%w: --webhook-secret-file, --webhook-dead-letter, --rescore-at and --rescore-every need --webhook", errUsage)
		}
		return func() {}, nil
	}
	secret, err := readSecret(*f.secretFile, logger)
	if err != nil {
		return nil, err
	}
	// A nightly rescoring by default: it also catches the rises of members
	// whose events were acknowledged just before a crash, before their
	// background rescoring ran.
	rescoreAt := *f.rescoreAt
	switch {
	case rescoreAt == "off":
		rescoreAt = ""
	case rescoreAt == "" && *f.rescoreEvery == 0:
		rescoreAt = defaultRescoreAt
	}
	dead := *f.deadLetter
	if dead == "" {
		dead = storePath + ".webhook-dead.jsonl"
	}
	a, err := srv.StartAlerts(serve.AlertOptions{
		Webhook: alert.Config{
			URL: *f.url, Secret: secret, DeadLetterPath: dead, Timeout: *f.timeout,
			MaxAttempts: *f.maxAttempts, MaxAge: *f.maxAge, Registerer: reg,
		},
		RescoreAt: rescoreAt, RescoreEvery: *f.rescoreEvery,
	})
	if err != nil {
		return nil, err
	}
	usr1 := make(chan os.Signal, 1)
	if len(rescoreSignals) > 0 {
		signal.Notify(usr1, rescoreSignals...)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-usr1:
				logger.Info("SIGUSR1: rescoring every member for the alerts")
				if rep, err := a.RescoreAll(ctx); err != nil {
					logger.Error("rescoring failed", "err", err)
				} else {
					logger.Info("rescored", "scored", rep.Scored, "raised", rep.Raised)
				}
			}
		}
	}()
	return func() {
		signal.Stop(usr1)
		close(done)
		a.Close()
	}, nil
}

// readSecret reads the webhook secret from file, or from $RETAIN_WEBHOOK_SECRET
// when file is "". Surrounding white space (a final newline) is dropped.
func readSecret(file string, logger *slog.Logger) ([]byte, error) {
	var secret []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			logger.Warn("the webhook secret file is readable by others", "file", file, "mode", st.Mode().Perm().String())
		}
		secret = bytes.TrimSpace(b)
		if err := alert.CheckSecret(secret); err != nil {
			return nil, fmt.Errorf("--webhook-secret-file %s: %w", file, err)
		}
		return secret, nil
	}
	secret = bytes.TrimSpace([]byte(os.Getenv(secretEnv)))
	if len(secret) == 0 {
		return nil, errors.New("--webhook needs a secret: --webhook-secret-file or $" + secretEnv)
	}
	if err := alert.CheckSecret(secret); err != nil {
		return nil, fmt.Errorf("$%s: %w", secretEnv, err)
	}
	return secret, nil
}
