package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	retainv1 "retain/proto/retain/v1"
	"retain/serve"
	"retain/serve/client"
)

func init() {
	register(command{name: "score", summary: "score members on a running server (retain serve)", run: runScore})
}

// scoreBatchMax is the number of ids sent per ScoreMembers call: the
// server's default batch limit (docs/api.md, MaxBatchMembers).
const scoreBatchMax = 1000

// runScore has two modes: the client of a running server, chosen by
// --addr, and batch scoring of a dataset with a model bundle and no server,
// chosen by --model, --data or --out (runScoreBatch, score_batch.go).
func runScore(args []string, stdout, stderr io.Writer) error {
	if isBatchScore(args) {
		return runScoreBatch(args, stdout, stderr)
	}
	fs := newFlags("score", stderr)
	addr := fs.String("addr", "", "gRPC address of a running 'retain serve', host:port (required unless batch mode: --model --data --out)")
	tokenEnv := fs.String("token-env", "RETAIN_TOKEN", "environment variable that holds the bearer token")
	tokenFile := fs.String("token-file", "", "file whose content (trimmed) is the bearer token; overrides --token-env")
	var copts client.Options
	fs.BoolVar(&copts.Insecure, "insecure", false, "dial without TLS (a server started without --tls-cert); the token then travels in the clear")
	fs.StringVar(&copts.CAFile, "ca", "", "PEM CAs trusted to sign the server's certificate (default: the system roots)")
	fs.StringVar(&copts.CertFile, "cert", "", "PEM client certificate, for a server that requires mutual TLS")
	fs.StringVar(&copts.KeyFile, "key", "", "PEM private key of --cert")
	asJSON := fs.Bool("json", false, "print each score as one line of protojson")
	topK := fs.Int("top-k", 3, "next-course suggestions per member")
	top := fs.Int("top", 0, "score every member of the server (StreamScores) and print the N most at risk")
	inclChurned := fs.Bool("include-churned", false, "with --top: also rank the members who had already churned at --as-of (docs/labels.md)")
	asOfStr := fs.String("as-of", "", "score as of this date (YYYY-MM-DD, midnight UTC) or RFC 3339 instant (default: now)")
	wait := fs.Duration("wait", 0, "first wait up to this long for the server's health to say SERVING (default: do not wait)")
	timeout := fs.Duration("timeout", time.Minute, "deadline of each call")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: retain score --addr HOST:PORT [flags] MEMBER_ID...\n       retain score --addr HOST:PORT --top N [flags]\n       retain score --addr HOST:PORT --wait D     (wait for SERVING, score nothing)\n\nScores members on a running 'retain serve'.\n\nFlags:")
		fs.PrintDefaults()
		// The batch mode's flags too: -h reaches this usage unless it
		// comes with --model, --data or --out.
		bfs, _ := scoreBatchFlags(fs.Output())
		fmt.Fprintln(fs.Output(), "\nBatch mode (chosen by --model, --data or --out; no server):\n\n"+scoreBatchUsage+"\n\nFlags:")
		bfs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	ids := fs.Args()
	if *addr == "" {
		fmt.Fprintln(stderr, "retain score: give --addr HOST:PORT to score members on a running 'retain serve',\nor --model BUNDLE --data DIR --out FILE for batch scoring of a dataset (no server)")
		return errUsage
	}
	if len(ids) > 0 && *top > 0 {
		fmt.Fprintln(stderr, "retain score: give member ids or --top, not both")
		return errUsage
	}
	if len(ids) == 0 && *top <= 0 && *wait <= 0 {
		fmt.Fprintln(stderr, "retain score: give member ids, --top N or --wait D")
		fs.Usage()
		return errUsage
	}
	if *topK < 1 || *top < 0 {
		fmt.Fprintln(stderr, "retain score: --top-k must be at least 1 and --top not negative")
		return errUsage
	}
	var asOf *timestamppb.Timestamp
	if *asOfStr != "" {
		t, err := parseAsOf(*asOfStr)
		if err != nil {
			return err
		}
		asOf = timestamppb.New(t)
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		copts.Token = strings.TrimSpace(string(b))
		if copts.Token == "" {
			return fmt.Errorf("token: %s is empty", *tokenFile)
		}
	} else if *tokenEnv != "" {
		copts.Token = os.Getenv(*tokenEnv)
	}

	c, err := client.Dial(*addr, &copts)
	if err != nil {
		return err
	}
	defer c.Close()
	if *wait > 0 {
		if err := waitServing(c, *wait); err != nil {
			return err
		}
		if len(ids) == 0 && *top == 0 {
			fmt.Fprintf(stdout, "%s: SERVING\n", *addr)
			return nil
		}
	}

	var scores []*retainv1.MemberScore
	var failed []*retainv1.ScoreError
	if *top > 0 {
		var skipped string
		scores, failed, skipped, err = streamTop(c, *top, asOf, int32(*topK), *inclChurned, *timeout)
		if skipped != "" && skipped != "0" {
			fmt.Fprintf(stderr, "retain score: %s members who had already churned were left out (--include-churned to rank them too)\n", skipped)
		}
	} else {
		scores, failed, err = scoreIDs(c, ids, asOf, int32(*topK), *timeout)
	}
	if err != nil {
		return err
	}
	for _, s := range scores {
		if *asJSON {
			b, err := protojson.Marshal(s)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		printScore(stdout, s)
	}
	for _, e := range failed {
		fmt.Fprintf(stderr, "retain score: %s: not scored: %s (code %d)\n", e.GetMemberId(), e.GetMessage(), e.GetCode())
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d members not scored", len(failed), len(failed)+len(scores))
	}
	return nil
}

// waitServing polls the health service until it says SERVING or d passes.
func waitServing(c *client.Client, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := c.Serving(cctx)
		ccancel()
		if ok {
			return nil
		}
		if err == nil {
			err = errors.New("health says NOT_SERVING")
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not SERVING after %v: %w", d, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scoreIDs scores ids in one ScoreMember call, or in ScoreMembers calls
// of at most scoreBatchMax ids when there are several.
func scoreIDs(c *client.Client, ids []string, asOf *timestamppb.Timestamp, topK int32, timeout time.Duration) ([]*retainv1.MemberScore, []*retainv1.ScoreError, error) {
	if len(ids) == 1 {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		r, err := c.ScoreMember(ctx, &retainv1.ScoreMemberRequest{
			Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: ids[0]},
			AsOf:    asOf,
			TopK:    topK,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("ScoreMember %s: %w", ids[0], err)
		}
		return []*retainv1.MemberScore{r.GetScore()}, nil, nil
	}
	var scores []*retainv1.MemberScore
	var failed []*retainv1.ScoreError
	for len(ids) > 0 {
		n := min(len(ids), scoreBatchMax)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r, err := c.ScoreMembers(ctx, &retainv1.ScoreMembersRequest{MemberIds: ids[:n], AsOf: asOf, TopK: topK})
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("ScoreMembers: %w", err)
		}
		scores = append(scores, r.GetScores()...)
		failed = append(failed, r.GetErrors()...)
		ids = ids[n:]
	}
	return scores, failed, nil
}

// streamTop scores every member of the server (the active ones unless
// includeChurned) and returns the n with the highest churn probability,
// highest first (ties by member id), and the server's count of churned
// members left out ("" when it sent none).
func streamTop(c *client.Client, n int, asOf *timestamppb.Timestamp, topK int32, includeChurned bool, timeout time.Duration) (_ []*retainv1.MemberScore, _ []*retainv1.ScoreError, skipped string, _ error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := c.StreamScores(ctx, &retainv1.StreamScoresRequest{AsOf: asOf, TopK: topK, IncludeChurned: includeChurned})
	if err != nil {
		return nil, nil, "", fmt.Errorf("StreamScores: %w", err)
	}
	var all []*retainv1.MemberScore
	var failed []*retainv1.ScoreError
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("StreamScores: %w", err)
		}
		if s := r.GetScore(); s != nil {
			all = append(all, s)
		} else if e := r.GetError(); e != nil {
			failed = append(failed, e)
		}
	}
	slices.SortFunc(all, func(a, b *retainv1.MemberScore) int {
		if c := cmp.Compare(b.GetChurnProbability(), a.GetChurnProbability()); c != 0 {
			return c
		}
		return strings.Compare(a.GetMemberId(), b.GetMemberId())
	})
	if v := st.Trailer().Get(serve.SkippedChurnedTrailer); len(v) > 0 {
		skipped = v[0]
	}
	return all[:min(n, len(all))], failed, skipped, nil
}

// printScore writes one member's score for a person to read.
func printScore(w io.Writer, s *retainv1.MemberScore) {
	fmt.Fprintf(w, "%s  churn %.3f  risk %s  tier %s\n", s.GetMemberId(), s.GetChurnProbability(),
		strings.TrimPrefix(s.GetRiskLevel().String(), "RISK_LEVEL_"), orDash(s.GetTier()))
	if s.GetAlreadyChurned() {
		fmt.Fprintln(w, "  status   already churned at the as-of time: no longer on the books (docs/labels.md)")
	}
	flags := "-"
	if len(s.GetFlags()) > 0 {
		flags = strings.Join(s.GetFlags(), ", ")
	}
	fmt.Fprintf(w, "  flags    %s\n", flags)
	for i, r := range s.GetReasons() {
		label := "reasons"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "  %-8s %-24s %+.3f", label, r.GetName(), r.GetContribution())
		if d := r.GetDescription(); d != "" {
			fmt.Fprintf(w, "  %s", d)
		}
		fmt.Fprintln(w)
	}
	if a := s.GetRecommendedAction(); a != nil {
		fmt.Fprintf(w, "  action   %s", orDash(a.GetKind()))
		if a.GetStage() != "" {
			fmt.Fprintf(w, " (%s)", a.GetStage())
		}
		if a.GetOfferText() != "" {
			fmt.Fprintf(w, ": %q", a.GetOfferText())
		}
		fmt.Fprintln(w)
	}
	for i, c := range s.GetNextCourses() {
		label := "next"
		if i > 0 {
			label = ""
		}
		name := c.GetCourseId()
		if c.GetName() != "" {
			name = fmt.Sprintf("%s %s", c.GetCourseId(), c.GetName())
		}
		fmt.Fprintf(w, "  %-8s %d. %-28s p=%.3f", label, i+1, name, c.GetProbability())
		for j, ses := range c.GetNextSessions() {
			if j == 2 {
				break
			}
			sep := "  next: "
			if j > 0 {
				sep = ", "
			}
			fmt.Fprintf(w, "%s%s", sep, ses.GetStartsAt().AsTime().UTC().Format("Mon 2006-01-02 15:04Z"))
			if ses.GetClub() != "" {
				fmt.Fprintf(w, " @%s", ses.GetClub())
			}
		}
		fmt.Fprintln(w)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
