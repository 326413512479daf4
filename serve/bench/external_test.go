package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	retainv1 "retain/proto/retain/v1"
	"retain/serve/client"
)

// BenchmarkExternal loads a running `retain serve` (plain gRPC, no TLS)
// instead of an in-process server, so that the server and the generator
// can run as separate processes, e.g. pinned to one core each:
//
//	GOMAXPROCS=1 taskset -c 1 retain serve --store .demo/store.db --model .demo/model.rtmb \
//	    --tokens TOKENS --addr 127.0.0.1:7171 &
//	RETAIN_BENCH_ADDR=127.0.0.1:7171 RETAIN_BENCH_TOKEN_FILE=.demo/token \
//	    GOMAXPROCS=1 taskset -c 0 go test -run '^$' -bench External -benchtime 1x ./serve/bench
//
// The result line gives the generator's own send lag (how late each call
// started after its instant) and the latencies from the instant and from
// the send.
//
// The token needs the score and recommend scopes. Members are M000001 to
// M<RETAIN_BENCH_MEMBERS> (default 5000, the demo's ids), scored as of
// RETAIN_BENCH_AS_OF (default 2025-12-29, the demo data's end), at 1,000
// requests/s for 10 s per call (RETAIN_BENCH_DURATION, e.g. 30s, for
// longer). RETAIN_BENCH_CALLS (e.g. "ScoreMember")
// runs only the calls it names, comma-separated, so that the server's CPU
// time can be read per call from outside. RETAIN_BENCH_RAMP=1 then ramps
// each call's rate 1,000, 2,000, 4,000, ... requests/s (3 s each) until
// its p99 reaches 5 ms or a call fails, and logs the highest rate held.
func BenchmarkExternal(b *testing.B) {
	addr := os.Getenv("RETAIN_BENCH_ADDR")
	if addr == "" {
		b.Skip("RETAIN_BENCH_ADDR not set: no running server to load")
	}
	tok, err := os.ReadFile(os.Getenv("RETAIN_BENCH_TOKEN_FILE"))
	if err != nil {
		b.Fatalf("RETAIN_BENCH_TOKEN_FILE: %v", err)
	}
	members := 5000
	if v := os.Getenv("RETAIN_BENCH_MEMBERS"); v != "" {
		if members, err = strconv.Atoi(v); err != nil || members < 1 {
			b.Fatalf("RETAIN_BENCH_MEMBERS %q: want a positive count", v)
		}
	}
	at := time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC)
	if v := os.Getenv("RETAIN_BENCH_AS_OF"); v != "" {
		if at, err = time.Parse(time.DateOnly, v); err != nil {
			b.Fatalf("RETAIN_BENCH_AS_OF: %v", err)
		}
	}
	c, err := client.Dial(addr, &client.Options{Token: strings.TrimSpace(string(tok)), Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl := retainv1.NewRetainServiceClient(c.Conn())
	asOf := timestamppb.New(at)
	calls := []struct {
		name string
		call func(ctx context.Context, id string) error
	}{
		{"ScoreMember", func(ctx context.Context, id string) error {
			_, err := cl.ScoreMember(ctx, &retainv1.ScoreMemberRequest{
				Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: asOf})
			return err
		}},
		{"RecommendClasses", func(ctx context.Context, id string) error {
			_, err := cl.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{
				Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: id}, AsOf: asOf})
			return err
		}},
		{"GetModelInfo", func(ctx context.Context, _ string) error {
			_, err := cl.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
			return err
		}},
	}
	if v := os.Getenv("RETAIN_BENCH_CALLS"); v != "" {
		want := strings.Split(v, ",")
		calls = slices.DeleteFunc(calls, func(c struct {
			name string
			call func(ctx context.Context, id string) error
		}) bool {
			return !slices.Contains(want, c.name)
		})
		if len(calls) == 0 {
			b.Fatalf("RETAIN_BENCH_CALLS %q: no such call", v)
		}
	}
	cfg := Config{Rate: 1000, Duration: benchDuration(b)}
	ramp := os.Getenv("RETAIN_BENCH_RAMP") != ""
	for range b.N {
		for _, c := range calls {
			f := func(ctx context.Context, i int) error {
				return c.call(ctx, fmt.Sprintf("M%06d", 1+i%members))
			}
			res, err := Run(context.Background(), cfg, f)
			if err != nil {
				b.Fatal(err)
			}
			if res.Errors > 0 {
				b.Fatalf("%s: %v", c.name, res.FirstErr)
			}
			b.Logf("%s: %v", c.name, res)
			if !ramp {
				continue
			}
			steps, held, err := Ramp(context.Background(), Config{Duration: 3 * time.Second}, 1000, 64000, 5*time.Millisecond, f)
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range steps {
				b.Logf("%s ramp %v", c.name, s.Result)
			}
			b.Logf("%s: highest rate with p99 < 5ms and no error: %.0f/s", c.name, held)
		}
	}
}

// benchDuration is RETAIN_BENCH_DURATION (e.g. 30s), 10 s when unset: how
// long BenchmarkExternal and BenchmarkLoopbackEcho load at 1,000/s.
func benchDuration(b *testing.B) time.Duration {
	v := os.Getenv("RETAIN_BENCH_DURATION")
	if v == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("RETAIN_BENCH_DURATION %q: want a positive duration such as 30s", v)
	}
	return d
}
