package serve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"retain/features"
	retainv1 "retain/proto/retain/v1"
)

// manyChunk is the number of members the callers of scoreMany read and
// pass to it at a time, one network run for them all (64 members are 64 ×
// 8 attribution rows). A variable for the tests only.
var manyChunk = 64

// manyResult is one member's result of scoreMany: a Score, or Churned
// (skipped, no forward pass), or Err.
type manyResult struct {
	Score   *Score
	Churned bool
	Err     error
}

// manyScorer is a Scorer that scores many members with one network run per
// chunk (BundleScorer): ScoreMembers, StreamScores and the alerts'
// rescoring use it when the live Scorer has it.
type manyScorer interface {
	// scoreMany scores hs as of asOf into out (as long as hs), each as
	// Score would, with one network run for all of them (the callers
	// pass at most manyChunk); with skipChurned, a member who had
	// already churned is Churned instead, without a forward pass. A
	// member's own failure is its Err; the error is ctx's, when it ends
	// the call.
	scoreMany(ctx context.Context, hs []*History, asOf time.Time, skipChurned bool, out []manyResult) error
}

var _ manyScorer = (*BundleScorer)(nil)

func (s *BundleScorer) scoreMany(ctx context.Context, hs []*History, asOf time.Time, skipChurned bool, out []manyResult) error {
	if len(out) < len(hs) {
		return fmt.Errorf("serve: scoreMany: %d results for %d members", len(out), len(hs))
	}
	ms := make([]BatchMember, 0, len(hs))
	idx := make([]int, 0, len(hs)) // index in hs of ms[k]
	for i, h := range hs {
		out[i] = manyResult{}
		ex, err := s.fz.Compute((*features.History)(h), asOf)
		if err != nil {
			out[i].Err = fmt.Errorf("serve: features: %w", err)
			continue
		}
		if skipChurned && s.fz.AlreadyChurned(ex) {
			out[i].Churned = true
			continue
		}
		ms = append(ms, BatchMember{Ex: ex, HomeClub: h.Member.HomeClub, Attended: s.attended(h)})
		idx = append(idx, i)
	}
	if len(ms) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ws := s.bws.Get().(*BatchWorkspace)
	defer s.bws.Put(ws)
	scores := make([]Score, len(ms))
	if err := s.ScoreBatch(ms, ws, scores); err != nil {
		// One member's example can fail the whole batch: score each
		// alone, so that the failure stays that member's.
		for k, m := range ms {
			out[idx[k]].Score, out[idx[k]].Err = s.scoreExample(ctx, hs[idx[k]], m.Ex)
		}
		return nil
	}
	for k := range ms {
		out[idx[k]].Score = &scores[k]
	}
	return nil
}

// storedResult is one member's outcome in scoreStoredMany, as scoreStored
// returns it: a score, a per-member error, or neither (skipped: had
// already churned, or with notJoined, had not joined by as_of).
type storedResult struct {
	score     *retainv1.MemberScore
	err       *retainv1.ScoreError
	notJoined bool
}

// storedSkips says which stored members scoreStoredMany leaves out instead
// of scoring: those who had already churned at as_of, those who had not
// yet joined by it (a whole-store pull as of a past day).
type storedSkips struct {
	churned, notJoined bool
}

// scoreStoredMany scores the stored members ids as of asOf as scoreStored
// scores each one, with one network run per manyChunk members when the
// live Scorer is a manyScorer, reading their histories a chunk at a time.
// The error is for the call as a whole (its context).
func (s *Server) scoreStoredMany(ctx context.Context, ls *liveScorer, ids []string, asOf time.Time, topK int, skip storedSkips) ([]storedResult, error) {
	out := make([]storedResult, len(ids))
	many, ok := ls.s.(manyScorer)
	if !ok {
		for i, id := range ids {
			r, err := s.scoreStored(ctx, ls, id, asOf, topK, skip)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	fail := func(i int, err error) {
		st := status.Convert(err)
		out[i].err = &retainv1.ScoreError{MemberId: ids[i], Code: int32(st.Code()), Message: st.Message()}
	}
	// A chunk at a time, so that no more than manyChunk histories are held
	// (a call may list 1000 members, a stream 100,000).
	hs := make([]*History, 0, manyChunk)
	at := make([]int, 0, manyChunk) // index in ids of hs[k]
	res := make([]manyResult, manyChunk)
	for lo := 0; lo < len(ids); lo += manyChunk {
		if err := ctx.Err(); err != nil {
			return nil, ctxErr(err)
		}
		hs, at = hs[:0], at[:0]
		for i := lo; i < min(lo+manyChunk, len(ids)); i++ {
			h, err := s.storedHistory(ids[i], asOf)
			if err != nil {
				fail(i, err)
				continue
			}
			hs = append(hs, h)
			at = append(at, i)
		}
		if len(hs) == 0 {
			continue
		}
		if err := many.scoreMany(ctx, hs, asOf, skip.churned, res[:len(hs)]); err != nil {
			if ctx.Err() != nil {
				return nil, ctxErr(ctx.Err())
			}
			s.log.Error("scoring failed", "members", len(hs), "version", ls.info.Version, "err", err)
			return nil, status.Error(codes.Internal, "scoring failed")
		}
		for k, r := range res[:len(hs)] {
			i, h := at[k], hs[k]
			switch {
			case r.Err != nil && skip.notJoined && errors.Is(r.Err, features.ErrNotJoined):
				out[i].notJoined = true
			case r.Err != nil:
				err := s.scoringErr(ctx, ls, h, r.Err, asOf)
				if ctx.Err() != nil {
					return nil, err
				}
				fail(i, err)
			case r.Churned:
				s.metrics.skipped.Inc()
			default:
				ms, err := s.memberScore(ls, h, r.Score, asOf, topK)
				if err != nil {
					fail(i, err)
					continue
				}
				out[i].score = ms
			}
		}
	}
	return out, nil
}
